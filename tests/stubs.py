"""Stand-ins for the paid APIs, served over HTTP on loopback by pytest-httpserver.

Each stub answers like the real service (paths, JSON shapes, headers) and can be told to fail the next calls
in a given way: ``stub.plan(Fail(429, retry_after=1), Fail(500))``. Failures can be limited to requests
whose body contains a marker (one scene's prompt).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pipeline.models import Scene
from pipeline.voice.timing import estimate_word_timings, wav_speech_span


def paid_scene(index: int = 0, **overrides: Any) -> Scene:
    """A scene for the paid providers: an English Polly voice, a 16:9 720p frame."""
    values: dict[str, Any] = {
        "project_id": 1,
        "index": index,
        "text": "Boats leave the harbour at dawn.",
        "keywords": ("boats", "harbour"),
        "visual_prompt": "fishing boats leaving a harbour at dawn",
        "width": 1280,
        "height": 720,
        "voice": "Joanna",
        "title": "Harbour",
        "image_provider": "stability",
        "voice_provider": "polly",
    }
    values.update(overrides)
    return Scene(**values)


@dataclass
class Fail:
    """One planned failure: an HTTP status and body, or a malformed/slow answer."""

    status: int = 500
    body: Any = None
    retry_after: float | None = None
    malformed: bool = False  # 200 with a body the client cannot use
    delay_s: float = 0.0  # answer after this long (past the client's timeout)
    match: str = ""  # only requests whose body contains this


@dataclass
class Stub:
    server: HTTPServer
    requests: list[dict[str, Any]] = field(default_factory=list)
    _plan: list[Fail] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _storm_calls: int = 0
    _storm_retry_after: float = 10.0
    storm_answers: int = 0

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def plan(self, *failures: Fail) -> None:
        with self._lock:
            self._plan.extend(failures)

    def storm(self, calls: int, retry_after: float = 10.0) -> None:
        """Answer the next ``calls`` calls with 429 (with Retry-After) or 500, by turns."""
        with self._lock:
            self._storm_calls, self._storm_retry_after = calls, retry_after

    def calls(self, path_part: str = "") -> list[dict[str, Any]]:
        return [r for r in self.requests if path_part in r["path"]]

    def _take(self, body: str) -> Fail | None:
        with self._lock:
            if self.storm_answers < self._storm_calls:
                self.storm_answers += 1
                return Fail(429, retry_after=self._storm_retry_after) if self.storm_answers % 2 else Fail(500)
            for i, failure in enumerate(self._plan):
                if failure.match in body:
                    return self._plan.pop(i)
        return None

    def _answer(self, request: Request, ok: Any) -> Response:
        body = request.get_data(as_text=True)
        failure = self._take(body)
        self.requests.append(
            {"path": request.path, "body": body, "failed": failure is not None and not failure.delay_s}
        )
        if failure is None:
            return ok(request)
        if failure.delay_s:
            time.sleep(failure.delay_s)
            return ok(request)
        if failure.malformed:
            return Response("{not json", status=200, content_type="application/json")
        headers = {"Retry-After": str(int(failure.retry_after))} if failure.retry_after is not None else {}
        return Response(
            json.dumps(failure.body if failure.body is not None else self.error_body(failure.status)),
            status=failure.status,
            headers=headers,
            content_type="application/json",
        )

    def error_body(self, status: int) -> Any:
        return {"error": {"code": status, "message": f"stub error {status}", "status": "ERROR"}}


class GeminiStub(Stub):
    """``POST /v1beta/models/{model}:generateContent``: a scripted structured answer built from the topic."""

    def install(self) -> GeminiStub:
        self.server.expect_request(
            re.compile(r"^/v1beta/models/[^/]+:generateContent$"), method="POST"
        ).respond_with_handler(lambda r: self._answer(r, self._generate))
        return self

    def _generate(self, request: Request) -> Response:
        payload = request.get_json()
        prompt = payload["contents"][0]["parts"][0]["text"]
        topic = re.search(r"Topic: (.*)", prompt).group(1)  # type: ignore[union-attr]
        assert payload["generationConfig"]["responseMimeType"] == "application/json"
        assert "responseSchema" in payload["generationConfig"] or "responseJsonSchema" in payload["generationConfig"]
        script = {
            "title": topic,
            "scenes": [
                {
                    "narration": f"Here is {topic}, seen from the harbour at dawn.",
                    "visual": f"{topic} at dawn, wide shot",
                },
                {"narration": f"By noon, {topic} is busy with traders.", "visual": f"crowded {topic} at noon"},
                {"narration": "At dusk, the lights come on one by one.", "visual": "harbour lights at dusk"},
            ],
        }
        return Response(
            json.dumps(
                {
                    "candidates": [
                        {"content": {"role": "model", "parts": [{"text": json.dumps(script)}]}, "finishReason": "STOP"}
                    ],
                    "usageMetadata": {"promptTokenCount": 180, "candidatesTokenCount": 120, "totalTokenCount": 300},
                    "modelVersion": "stub",
                }
            ),
            content_type="application/json",
        )


class StabilityStub(Stub):
    """``POST /v2beta/stable-image/generate/{core,ultra,sd3}``: a real PNG in the asked aspect ratio."""

    SIZES: ClassVar[dict[str, tuple[int, int]]] = {"16:9": (1344, 768), "9:16": (768, 1344), "1:1": (1024, 1024)}

    def install(self) -> StabilityStub:
        self.server.expect_request(
            re.compile(r"^/v2beta/stable-image/generate/(core|ultra|sd3)$"), method="POST"
        ).respond_with_handler(lambda r: self._answer(r, self._generate))
        return self

    def error_body(self, status: int) -> Any:
        name = {403: "content_moderation", 402: "payment_required", 401: "unauthorized"}.get(status, "error")
        message = {
            403: "Your request was flagged by our content moderation system, as a result your request was denied.",
        }.get(status, f"stub error {status}")
        return {"id": "stub", "name": name, "errors": [message]}

    def _generate(self, request: Request) -> Response:
        assert request.headers.get("Authorization", "").startswith("Bearer ")
        form = request.form
        width, height = self.SIZES.get(form["aspect_ratio"], (1024, 1024))
        seed = int(form.get("seed", "0"))
        image = Image.new("RGB", (width, height), ((seed >> 16) % 256, (seed >> 8) % 256, seed % 256))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return Response(
            buffer.getvalue(), content_type="image/png", headers={"finish-reason": "SUCCESS", "seed": str(seed)}
        )


class PollyStub(Stub):
    """Polly's REST API (``POST /v1/speech``, ``GET /v1/voices``) with real speech: espeak-ng, MP3 by ffmpeg,
    and word speech marks spread over the spoken span."""

    VOICES: ClassVar[list[dict[str, Any]]] = [
        {
            "Id": "Joanna",
            "LanguageCode": "en-US",
            "Name": "Joanna",
            "Gender": "Female",
            "SupportedEngines": ["neural", "standard"],
        },
        {"Id": "Ivy", "LanguageCode": "en-US", "Name": "Ivy", "Gender": "Female", "SupportedEngines": ["standard"]},
    ]

    def install(self) -> PollyStub:
        self.server.expect_request("/v1/voices", method="GET").respond_with_json({"Voices": self.VOICES})
        self.server.expect_request("/v1/speech", method="POST").respond_with_handler(
            lambda r: self._answer(r, self._speech)
        )
        return self

    def error_body(self, status: int) -> Any:
        return {
            "__type": "ServiceFailureException" if status >= 500 else "ThrottlingException",
            "message": f"stub {status}",
        }

    def _speech(self, request: Request) -> Response:
        payload = request.get_json()
        assert payload["TextType"] == "ssml" and payload["Text"].startswith("<speak>")
        import html

        text = html.unescape(re.sub(r"<[^>]+>", "", payload["Text"]))
        with tempfile.TemporaryDirectory() as scratch:
            wav = Path(scratch) / "s.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "--stdin", "-w", str(wav)], input=text, text=True, check=True)
            if payload["OutputFormat"] == "json":
                _, start, end = wav_speech_span(wav)
                marks = [
                    json.dumps({"time": round(w.start_s * 1000), "type": "word", "start": 0, "end": 0, "value": w.word})
                    for w in estimate_word_timings(text, speech_start_s=start, speech_end_s=end)
                ]
                return Response("\n".join(marks) + "\n", content_type="application/x-json-stream")
            mp3 = Path(scratch) / "s.mp3"
            subprocess.run(
                [
                    "ffmpeg",
                    "-v",
                    "error",
                    "-i",
                    str(wav),
                    "-ar",
                    payload.get("SampleRate", "24000"),
                    "-ac",
                    "1",
                    str(mp3),
                ],
                check=True,
            )
            return Response(mp3.read_bytes(), content_type="audio/mpeg")
