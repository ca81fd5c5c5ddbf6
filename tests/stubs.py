"""Stand-ins for the paid APIs, served over HTTP on loopback by pytest-httpserver.

Each stub answers like the real service (paths, JSON shapes, headers) and can be told to fail the next calls
in a given way: ``stub.plan(Fail(429, retry_after=1), Fail(500))``. Failures can be limited to requests
whose body contains a marker (one scene's prompt).
"""

from __future__ import annotations

import hashlib
import hmac
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
    """``POST /v1beta/models/{model}:generateContent``: a scripted structured answer built from the topic, or a
    translation of a video's scenes (each marked with its language)."""

    def install(self) -> GeminiStub:
        self.translations: list[str] = []
        self.server.expect_request(
            re.compile(r"^/v1beta/models/[^/]+:generateContent$"), method="POST"
        ).respond_with_handler(lambda r: self._answer(r, self._generate))
        return self

    def _generate(self, request: Request) -> Response:
        payload = request.get_json()
        prompt = payload["contents"][0]["parts"][0]["text"]
        if prompt.startswith("Translate"):
            return self._translate(payload, prompt)
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

    def _translate(self, payload: dict[str, Any], prompt: str) -> Response:
        """A translation: the title and every scene marked with the language, e.g. "[de] ...", as structured JSON."""
        assert payload["generationConfig"]["responseMimeType"] == "application/json"
        language = re.search(r"\(([a-zA-Z-]+)\)\.", prompt).group(1)  # type: ignore[union-attr]
        title = re.search(r"^Title: (.*)$", prompt, re.MULTILINE).group(1)  # type: ignore[union-attr]
        scenes = re.findall(r"^Scene \d+: (.*)$", prompt, re.MULTILINE)
        self.translations.append(language)
        answer = {"title": f"[{language}] {title}", "scenes": [f"[{language}] {text}" for text in scenes]}
        return Response(
            json.dumps(
                {
                    "candidates": [
                        {"content": {"role": "model", "parts": [{"text": json.dumps(answer)}]}, "finishReason": "STOP"}
                    ],
                    "usageMetadata": {"promptTokenCount": 90, "candidatesTokenCount": 60, "totalTokenCount": 150},
                    "modelVersion": "stub",
                }
            ),
            content_type="application/json",
        )


class StabilityStub(Stub):
    """``POST /v2beta/stable-image/generate/{core,ultra,sd3}``: a real PNG in the asked aspect ratio;
    ``filter_next = True`` answers the next one as a filtered prompt."""

    filter_next: bool = False

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
        reason = "SUCCESS"
        if getattr(self, "filter_next", False):  # Stability's answer to a prompt its filter stopped
            self.filter_next, reason = False, "CONTENT_FILTERED"
        return Response(
            buffer.getvalue(), content_type="image/png", headers={"finish-reason": reason, "seed": str(seed)}
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
        {"Id": "Hans", "LanguageCode": "de-DE", "Name": "Hans", "Gender": "Male", "SupportedEngines": ["standard"]},
        {
            "Id": "Vicki",
            "LanguageCode": "de-DE",
            "Name": "Vicki",
            "Gender": "Female",
            "SupportedEngines": ["neural", "standard"],
        },
        {"Id": "Lea", "LanguageCode": "fr-FR", "Name": "Léa", "Gender": "Female", "SupportedEngines": ["neural"]},
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


@dataclass(frozen=True)
class StockEntry:
    """One video or photo of the Pexels stand-in's catalogue."""

    item_id: int
    kind: str  # "video" or "photo"
    tags: frozenset[str]
    width: int
    height: int
    author: str
    duration: int = 6


def _orientation(width: int, height: int) -> str:
    return "landscape" if width > height else "portrait" if height > width else "square"


class PexelsStub(Stub):
    """Pexels' ``GET /videos/search`` and ``GET /v1/search`` answering from a small catalogue by tag, with the
    JSON shapes and rate-limit headers of the real API; the download links serve real files (an H.264 clip made
    by ffmpeg, a JPEG made by Pillow) in the entry's size."""

    CATALOGUE: ClassVar[tuple[StockEntry, ...]] = (
        StockEntry(101, "video", frozenset({"harbour", "boats", "sea"}), 1920, 1080, "Ana Costa"),
        StockEntry(102, "video", frozenset({"harbour", "boats", "morning"}), 1280, 720, "Bo Lind"),
        StockEntry(103, "video", frozenset({"market", "crowd", "noon"}), 1920, 1080, "Chen Wu"),
        StockEntry(201, "video", frozenset({"harbour", "boats"}), 1080, 1920, "Dara Okafor"),
        StockEntry(104, "video", frozenset({"gull"}), 1280, 720, "Eli Short", duration=1),  # too short to use
        StockEntry(301, "photo", frozenset({"lighthouse", "dusk"}), 1200, 800, "Fay Moreau"),
        StockEntry(302, "photo", frozenset({"lighthouse", "dusk"}), 800, 1200, "Gus Berg"),
    )
    downloads: list[str]

    def install(self) -> PexelsStub:
        self.downloads = []
        self.files: dict[tuple[str, int, int], bytes] = {}
        self.server.expect_request("/videos/search", method="GET").respond_with_handler(
            lambda r: self._answer(r, lambda q: self._search(q, "video"))
        )
        self.server.expect_request("/v1/search", method="GET").respond_with_handler(
            lambda r: self._answer(r, lambda q: self._search(q, "photo"))
        )
        self.server.expect_request(re.compile(r"^/files/.*")).respond_with_handler(self._file)
        return self

    def searches(self, kind: str = "") -> list[dict[str, Any]]:
        path = {"video": "/videos/search", "photo": "/v1/search"}.get(kind, "search")
        return [r for r in self.requests if path in r["path"]]

    def _answer(self, request: Request, ok: Any) -> Response:
        response = super()._answer(request, ok)
        self.requests[-1].update(query=dict(request.args), authorization=request.headers.get("Authorization"))
        if response.status_code == 429:
            response.headers["X-Ratelimit-Remaining"] = "0"
            response.headers["X-Ratelimit-Reset"] = str(int(time.time()) + 42)
            response.headers.pop("Retry-After", None)
        return response

    def error_body(self, status: int) -> Any:
        return {"error": "Rate limit exceeded" if status == 429 else f"stub error {status}"}

    def _search(self, request: Request, kind: str) -> Response:
        assert request.headers.get("Authorization"), "Pexels wants the key in the Authorization header"
        words = {word.casefold() for word in request.args["query"].split()}
        wanted = request.args.get("orientation")
        per_page = int(request.args.get("per_page", 15))
        found = [
            entry
            for entry in self.CATALOGUE
            if entry.kind == kind
            and words & entry.tags
            and (not wanted or _orientation(entry.width, entry.height) == wanted)
        ][:per_page]
        base = self.url
        if kind == "video":
            results = [
                {
                    "id": e.item_id,
                    "width": e.width,
                    "height": e.height,
                    "duration": e.duration,
                    "url": f"https://www.pexels.com/video/stub-{e.item_id}/",
                    "image": f"{base}/files/poster/{e.item_id}.jpg",
                    "user": {
                        "id": 7,
                        "name": e.author,
                        "url": f"https://www.pexels.com/@{e.author.split()[0].lower()}",
                    },
                    "video_files": [
                        {
                            "id": e.item_id * 10 + n,
                            "quality": quality,
                            "file_type": "video/mp4",
                            "width": e.width * scale[0] // scale[1],
                            "height": e.height * scale[0] // scale[1],
                            "fps": 25,
                            "link": f"{base}/files/video/{e.item_id * 10 + n}.mp4"
                            f"?w={e.width * scale[0] // scale[1]}&h={e.height * scale[0] // scale[1]}",
                        }
                        for n, (quality, scale) in enumerate([("hd", (1, 1)), ("hd", (2, 3)), ("sd", (1, 3))])
                    ],
                }
                for e in found
            ]
            body = {"page": 1, "per_page": per_page, "total_results": len(results), "videos": results}
        else:
            results = [
                {
                    "id": e.item_id,
                    "width": e.width,
                    "height": e.height,
                    "url": f"https://www.pexels.com/photo/stub-{e.item_id}/",
                    "photographer": e.author,
                    "photographer_url": f"https://www.pexels.com/@{e.author.split()[0].lower()}",
                    "alt": " ".join(sorted(e.tags)),
                    "src": {
                        "original": f"{base}/files/photo/{e.item_id}.jpg?w={e.width}&h={e.height}",
                        "large2x": f"{base}/files/photo/{e.item_id}.jpg?w={e.width}&h={e.height}",
                        "tiny": f"{base}/files/photo/{e.item_id}-tiny.jpg?w=40&h=30",
                    },
                }
                for e in found
            ]
            body = {"page": 1, "per_page": per_page, "total_results": len(results), "photos": results}
        return Response(
            json.dumps(body),
            content_type="application/json",
            headers={"X-Ratelimit-Limit": "200", "X-Ratelimit-Remaining": "199", "X-Ratelimit-Reset": "0"},
        )

    def _file(self, request: Request) -> Response:
        """A real file of the asked size (scaled down 4x for clips, to stay quick): made once, served again."""
        self.downloads.append(request.path)
        assert not request.headers.get("Authorization"), "the API key is not sent to the file host"
        width, height = int(request.args.get("w", 640)), int(request.args.get("h", 360))
        kind = "video" if request.path.endswith(".mp4") else "photo"
        key = (kind, width, height)
        if key not in self.files:
            self.files[key] = (
                _stock_video(width // 4 // 2 * 2, height // 4 // 2 * 2) if kind == "video" else _jpeg(width, height)
            )
        return Response(self.files[key], content_type="video/mp4" if kind == "video" else "image/jpeg")


def make_clip(dest: Path, width: int, height: int, seconds: float = 3.0) -> Path:
    """A moving H.264 test clip (ffmpeg's testsrc2 at 25 fps) of that size and length, written at ``dest``."""
    from pipeline.commands import synthesize

    dest.parent.mkdir(parents=True, exist_ok=True)
    options = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mp4"]
    return synthesize(dest, f"testsrc2=s={width}x{height}:r=25:d={seconds}", options, timeout_s=60)


def _stock_video(width: int, height: int) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return make_clip(Path(folder) / "clip.mp4", width, height).read_bytes()


def _jpeg(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), (200, 120, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


@dataclass
class Cms:
    """The team's CMS: checks each POST's signature and age, keeps one video per idempotency key."""

    secret: bytes
    fail_first: list[int] = field(default_factory=list)  # answer these statuses first, having stored the video
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: int = 0
    refused: list[str] = field(default_factory=list)

    def __call__(self, request: Request) -> Response:
        self.posts += 1
        body = request.get_data()
        stamp = request.headers.get("X-Video-Factory-Timestamp", "")
        expected = "sha256=" + hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Video-Factory-Signature", "")):
            self.refused.append("signature")
            return Response("bad signature", status=401)
        if abs(time.time() - int(stamp)) > 300:
            self.refused.append("old")
            return Response("too old: a replay?", status=401)
        key = request.headers["Idempotency-Key"]
        envelope = json.loads(body)
        assert envelope["idempotency_key"] == key
        known = key in self.videos
        if not known:
            self.videos[key] = envelope["video"]
        if self.fail_first:
            return Response("busy", status=self.fail_first.pop(0), headers={"Retry-After": "7"})
        return Response(json.dumps({"id": f"cms-{len(self.videos)}"}), status=200 if known else 201)
