"""The paid providers against stand-ins on loopback: real clients (google-genai, httpx, boto3), real answers.

Every failure is checked for its class (retryable or not), its message, and that the client made exactly one
request: retries belong to Airflow.
"""

from __future__ import annotations

import html
import json
import wave
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from pipeline.assets import make_scene_image, make_script, narrate_scene
from pipeline.errors import InvalidRequest, ProviderError
from pipeline.images.stability import StabilityImages, aspect_ratio_for
from pipeline.models import Scene, VideoRequest
from pipeline.scriptgen import GeminiScript, GivenScript
from pipeline.storage import LocalStorage
from pipeline.voice.polly import PollyVoice, split_for_polly, to_ssml
from tests.stubs import Fail


def _request(**overrides: Any) -> VideoRequest:
    values: dict[str, Any] = {
        "request_id": "topic-1",
        "title": "Harbour",
        "topic": "the fish market",
        "tone": "warm and curious",
        "audience": "children aged 8",
        "target_duration_s": 45,
    }
    values.update(overrides)
    return VideoRequest(**values)


def _scene(index: int = 0, **overrides: Any) -> Scene:
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
    }
    values.update(overrides)
    return Scene(**values)


def _polly(stub_or_url: Any, **kwargs: Any) -> PollyVoice:
    url = stub_or_url if isinstance(stub_or_url, str) else stub_or_url.url
    client = boto3.client(
        "polly",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=__import__("pipeline.aws", fromlist=["no_retry_config"]).no_retry_config(read_timeout_s=5),
    )
    return PollyVoice(client=client, **kwargs)


# -- Gemini -----------------------------------------------------------------------------------------------


def test_gemini_writes_a_validated_script_with_a_visual_per_scene(gemini_stub: Any) -> None:
    script = GeminiScript(api_key="test-key", base_url=gemini_stub.url, model="gemini-test").write_script(_request())

    (call,) = gemini_stub.requests
    payload = json.loads(call["body"])
    assert call["path"] == "/v1beta/models/gemini-test:generateContent"
    config = payload["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = json.dumps(config.get("responseSchema") or config.get("responseJsonSchema"))
    assert "narration" in schema and "visual" in schema
    prompt = payload["contents"][0]["parts"][0]["text"]
    assert "the fish market" in prompt and "warm and curious" in prompt and "children aged 8" in prompt
    assert "45 seconds" in prompt

    assert script.source == "gemini" and script.model == "gemini-test"
    assert (script.units, script.unit_kind) == (300, "tokens")
    assert script.body.split("\n\n")[0] == "Here is the fish market, seen from the harbour at dawn."
    assert script.visuals == ("the fish market at dawn, wide shot", "crowded the fish market at noon",
                              "harbour lights at dusk")  # fmt: skip


@pytest.mark.parametrize(
    ("failure", "retryable", "message"),
    [
        (Fail(429, retry_after=7), True, "HTTP 429"),
        (Fail(500), True, "HTTP 500"),
        (Fail(503), True, "HTTP 503"),
        (Fail(400), False, "HTTP 400"),
        (Fail(401), False, "HTTP 401"),
        (Fail(403), False, "HTTP 403"),
        (Fail(malformed=True), False, "malformed response"),
        (Fail(200, body={"candidates": [{"content": {"parts": [{"text": '{"scenes": []}'}]}, "finishReason": "STOP"}]}),
         False, "not valid JSON of the schema"),
        (Fail(200, body={"candidates": [{"content": {"parts": [{"text": "{}"}]}, "finishReason": "SAFETY"}]}),
         False, "stopped early"),
        (Fail(delay_s=2.5), True, "timed out"),
    ],
)  # fmt: skip
def test_gemini_failures_are_classified_and_never_retried_inside(
    gemini_stub: Any, failure: Fail, retryable: bool, message: str
) -> None:
    gemini_stub.plan(failure)
    provider = GeminiScript(api_key="test-key", base_url=gemini_stub.url, timeout_s=1)
    with pytest.raises(ProviderError) as caught:
        provider.write_script(_request())
    assert caught.value.retryable is retryable
    assert message in caught.value.message
    assert caught.value.retry_after == (7 if failure.retry_after else None)
    assert len(gemini_stub.requests) == 1


def test_a_generated_script_is_paid_for_once_per_distinct_topic(gemini_stub: Any, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    provider = GeminiScript(api_key="test-key", base_url=gemini_stub.url)
    first, call = make_script(_request(), provider=provider, storage=storage)
    again, call_again = make_script(_request(request_id="another"), provider=provider, storage=storage)
    other_tone, _ = make_script(_request(tone="solemn"), provider=provider, storage=storage)

    assert len(gemini_stub.requests) == 2  # the second request had the same topic, tone, audience and length
    assert again == first and other_tone.body == first.body
    assert call is not None and call_again is not None
    assert (call.cached, call.units, call.outcome) == (False, 300, "ok")
    assert (call_again.cached, call_again.units, call_again.outcome) == (True, 0, "cached")
    assert call.content_hash == call_again.content_hash


def test_a_given_script_makes_no_call_and_no_ledger_line(gemini_stub: Any, tmp_path: Path) -> None:
    request = _request(script="Our own words.\n\nSecond scene.")
    provider = GeminiScript(api_key="test-key", base_url=gemini_stub.url)
    script, call = make_script(request, provider=provider, storage=LocalStorage(tmp_path))
    assert (script.body, script.source, call) == (request.script, "given", None)
    assert gemini_stub.requests == []
    with pytest.raises(InvalidRequest, match="no script generator"):
        GivenScript().write_script(_request())


# -- Stability --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height", "ratio"), [(1280, 720, "16:9"), (1080, 1920, "9:16"), (720, 720, "1:1")])
def test_stability_image_fits_the_frame_exactly(
    stability_stub: Any, tmp_path: Path, width: int, height: int, ratio: str
) -> None:
    provider = StabilityImages(api_key="sk-test", base_url=stability_stub.url, negative_prompt="blurry, text")
    dest = tmp_path / "scene.png"
    usage = provider.generate(
        prompt="fishing boats at dawn", title="Harbour", keywords=("boats", "dawn"), scene_number=1,
        width=width, height=height, dest=dest,
    )  # fmt: skip
    with Image.open(dest) as image:
        assert (image.format, image.size) == ("PNG", (width, height))
    assert (usage.units, usage.unit_kind) == (3.0, "credits")
    (call,) = stability_stub.requests
    assert call["path"] == "/v2beta/stable-image/generate/core"
    for field, value in [("aspect_ratio", ratio), ("negative_prompt", "blurry, text"), ("output_format", "png")]:
        assert f'name="{field}"\r\n\r\n{value}\r\n' in call["body"]
    assert "fishing boats at dawn" in call["body"] and "boats, dawn" in call["body"]
    assert aspect_ratio_for(width, height) == ratio


def test_stability_sends_the_same_seed_for_the_same_scene(stability_stub: Any, tmp_path: Path) -> None:
    provider = StabilityImages(api_key="sk-test", base_url=stability_stub.url, model="sd3.5-large")
    for _ in range(2):
        provider.generate(
            prompt="a lighthouse", title="t", keywords=(), scene_number=1, width=640, height=360,
            dest=tmp_path / "a.png",
        )  # fmt: skip
    first, second = stability_stub.requests
    assert first["path"] == "/v2beta/stable-image/generate/sd3" and 'name="model"\r\n\r\nsd3.5-large' in first["body"]
    seed = first["body"].split('name="seed"\r\n\r\n')[1].split("\r\n")[0]
    assert seed.isdigit() and f'name="seed"\r\n\r\n{seed}\r\n' in second["body"]


@pytest.mark.parametrize(
    ("failure", "retryable", "message"),
    [
        (Fail(429, retry_after=3), True, "HTTP 429"),
        (Fail(500), True, "HTTP 500"),
        (Fail(400), False, "HTTP 400"),
        (Fail(401), False, "unauthorized"),
        (Fail(402), False, "payment_required"),
        (Fail(403), False, "flagged by our content moderation system"),
        (Fail(malformed=True), False, "not an image"),
        (Fail(delay_s=2.5), True, "timed out"),
    ],
)
def test_stability_failures_are_classified(
    stability_stub: Any, tmp_path: Path, failure: Fail, retryable: bool, message: str
) -> None:
    stability_stub.plan(failure)
    provider = StabilityImages(api_key="sk-test", base_url=stability_stub.url, timeout_s=1)
    with pytest.raises(ProviderError) as caught:
        provider.generate(
            prompt="p", title="t", keywords=(), scene_number=1, width=64, height=64, dest=tmp_path / "x.png"
        )
    assert caught.value.retryable is retryable
    assert message in caught.value.message
    assert caught.value.retry_after == (3 if failure.retry_after else None)
    assert len(stability_stub.requests) == 1
    assert not (tmp_path / "x.png").exists()


def test_a_failed_image_call_carries_its_ledger_line(stability_stub: Any, tmp_path: Path) -> None:
    stability_stub.plan(Fail(500), Fail(403))
    provider = StabilityImages(api_key="sk-test", base_url=stability_stub.url)
    storage = LocalStorage(tmp_path / "storage")
    outcomes = []
    for _ in range(2):
        with pytest.raises(ProviderError) as caught:
            make_scene_image(_scene(), provider=provider, storage=storage, work_dir=tmp_path / "work")
        outcomes.append((caught.value.call.outcome, caught.value.call.units, caught.value.call.cached))
    assert outcomes == [("error_retryable", 0, False), ("error_final", 0, False)]
    asset, call = make_scene_image(_scene(), provider=provider, storage=storage, work_dir=tmp_path / "work")
    assert (call.outcome, call.units, call.unit_kind, asset.cached) == ("ok", 3.0, "credits", False)
    asset, call = make_scene_image(_scene(), provider=provider, storage=storage, work_dir=tmp_path / "work")
    assert (call.outcome, call.units, asset.cached) == ("cached", 0, True)
    assert len(stability_stub.requests) == 3  # two failures, one image; the fourth came from storage


# -- Polly ------------------------------------------------------------------------------------------------


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as wav:
        return wav.getnframes() / wav.getframerate()


def test_polly_narrates_with_speech_mark_timings_on_the_neural_engine(polly_stub: Any, tmp_path: Path) -> None:
    provider = _polly(polly_stub, cache_file=tmp_path / "voices.json")
    text = 'Boats leave at 5.30 a.m. — "quietly" <b>& fast</b>.'
    speech = provider.synthesize(text=text, voice="joanna", dest=tmp_path / "n.wav")

    assert abs(_wav_seconds(tmp_path / "n.wav") - speech.duration_s) < 0.01 and speech.duration_s > 1
    assert speech.timings_estimated is False
    assert [w.word for w in speech.words] == text.split()  # escaped for SSML, unescaped again in the marks
    starts = [w.start_s for w in speech.words]
    assert starts == sorted(starts) and all(w.end_s >= w.start_s for w in speech.words)
    assert speech.words[-1].end_s <= speech.duration_s
    assert (speech.units, speech.unit_kind) == (2 * len(text), "characters")
    audio, marks = (json.loads(r["body"]) for r in polly_stub.calls("/v1/speech"))
    assert audio["Text"] == to_ssml(text) and "&lt;b&gt;&amp; fast&lt;/b&gt;" in audio["Text"]
    assert (audio["VoiceId"], audio["Engine"], audio["OutputFormat"]) == ("Joanna", "neural", "mp3")
    assert (marks["OutputFormat"], marks["SpeechMarkTypes"]) == ("json", ["word"])


def test_polly_uses_standard_for_a_voice_without_neural(polly_stub: Any, tmp_path: Path) -> None:
    provider = _polly(polly_stub)
    provider.synthesize(text="Hello there.", voice="Ivy", dest=tmp_path / "n.wav")
    assert {json.loads(r["body"])["Engine"] for r in polly_stub.calls("/v1/speech")} == {"standard"}
    with pytest.raises(InvalidRequest, match="no voice 'Nobody'"):
        provider.synthesize(text="Hello.", voice="Nobody", dest=tmp_path / "x.wav")


def test_polly_splits_long_text_and_joins_audio_and_timings(polly_stub: Any, tmp_path: Path) -> None:
    text = (
        "The first boats leave before sunrise. By noon the market is loud with traders. "
        "In the afternoon sailors mend their nets on the quay. At dusk the lighthouse flickers on."
    )
    parts = split_for_polly(text, 60)
    assert len(parts) == 4 and " ".join(parts) == text and all(len(p) <= 60 for p in parts)
    single = _polly(polly_stub).synthesize(text=text, voice="Joanna", dest=tmp_path / "one.wav")
    split = _polly(polly_stub, max_chars=60).synthesize(text=text, voice="Joanna", dest=tmp_path / "four.wav")

    assert len(polly_stub.calls("/v1/speech")) == 2 + 2 * 4
    assert [w.word for w in split.words] == text.split()
    assert abs(_wav_seconds(tmp_path / "four.wav") - split.duration_s) < 0.01
    starts = [w.start_s for w in split.words]
    assert starts == sorted(starts)
    # the second part's first word ("By") starts after the first part's audio, not at 0
    by = text.split().index("By")
    assert split.words[by].start_s > split.words[by - 1].end_s - 0.01 > 1.0
    assert abs(split.duration_s - single.duration_s) < 1.5
    assert split_for_polly("word " * 5, 60) == ["word word word word word"]
    assert split_for_polly("a & b", 5) == ["a", "&", "b"]  # sizes count escaped text: "a &amp;" is 7 > 5


@pytest.mark.parametrize(
    ("failure", "retryable"),
    [
        (Fail(429), True),
        (Fail(500), True),
        (Fail(400, body={"__type": "InvalidSsmlException", "message": "bad"}), False),
    ],
)
def test_polly_failures_are_classified(polly_stub: Any, tmp_path: Path, failure: Fail, retryable: bool) -> None:
    polly_stub.plan(failure)
    with pytest.raises(ProviderError) as caught:
        _polly(polly_stub).synthesize(text="Hello.", voice="Joanna", dest=tmp_path / "n.wav")
    assert caught.value.retryable is retryable
    assert len(polly_stub.calls("/v1/speech")) == 1


def test_polly_voices_come_from_moto_and_are_cached_for_a_day(moto_server: str, tmp_path: Path) -> None:
    cache = tmp_path / "voices.json"
    voices = _polly(moto_server, cache_file=cache).voices()
    assert {"joanna", "matthew", "amy"} <= voices
    assert cache.is_file()

    class NoCalls:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"{name} called although the voice list is cached")

    cached = PollyVoice(client=NoCalls(), cache_file=cache)
    assert cached.voices() == voices and cached.engine_for("Joanna") == "neural"


def test_polly_placeholder_audio_from_moto_is_a_malformed_response(moto_server: str, tmp_path: Path) -> None:
    with pytest.raises(ProviderError) as caught:
        _polly(moto_server).synthesize(text="Hello there.", voice="Joanna", dest=tmp_path / "n.wav")
    assert caught.value.retryable is False
    assert "malformed response: the audio cannot be decoded" in caught.value.message
    assert not (tmp_path / "n.wav").exists()


def test_ssml_escapes_everything() -> None:
    assert to_ssml("<break time=\"9s\"/> & 'x'") == (
        "<speak>&lt;break time=&quot;9s&quot;/&gt; &amp; &#x27;x&#x27;</speak>"
    )
    assert html.unescape(to_ssml("a < b")[7:-8]) == "a < b"


# -- at most one paid call per distinct input, also under concurrency -------------------------------------


def test_workers_making_the_same_image_at_once_pay_once(stability_stub: Any, tmp_path: Path, repository: Any) -> None:
    import threading

    stability_stub.plan(Fail(delay_s=1.0))  # the first call is slow: the second worker arrives meanwhile
    provider = StabilityImages(api_key="sk-test", base_url=stability_stub.url)
    storage = LocalStorage(tmp_path / "storage")
    results: list[Any] = []

    def worker(index: int) -> None:
        # the same picture, asked for by scene 1 of one video and scene 4 of another
        scene = _scene(index, title=f"Video {index}")
        results.append(
            make_scene_image(
                scene, provider=provider, storage=storage, work_dir=tmp_path / f"w{index}", lock=repository.content_lock
            )
        )

    threads = [threading.Thread(target=worker, args=(i,)) for i in (0, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(stability_stub.requests) == 1
    assert sorted(call.outcome for _, call in results) == ["cached", "ok"]
    assert len({asset.storage_key for asset, _ in results}) == 1


def test_repeated_narration_in_one_video_is_synthesised_once(polly_stub: Any, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    provider = _polly(polly_stub)
    refrain = "And the tide comes in again."
    calls = [
        narrate_scene(_scene(i, text=refrain), provider=provider, storage=storage, work_dir=tmp_path / "work")[1]
        for i in (1, 4)
    ]
    assert [c.outcome for c in calls] == ["ok", "cached"]
    assert calls[0].model == "neural/Joanna"
    assert len(polly_stub.calls("/v1/speech")) == 2  # one audio, one set of speech marks
