"""Gemini scripts through google-genai against a stand-in on loopback: the request it sends, the script it
returns, every failure classified, and exactly one request per call (retries belong to Airflow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.assets import make_script
from pipeline.errors import InvalidRequest, ProviderError
from pipeline.request import VideoRequest
from pipeline.scriptgen import GeminiScript, GivenScript
from pipeline.storage import LocalStorage
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
    assert script.visuals == (
        "the fish market at dawn, wide shot",
        "crowded the fish market at noon",
        "harbour lights at dusk",
    )


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
        (
            Fail(
                200, body={"candidates": [{"content": {"parts": [{"text": '{"scenes": []}'}]}, "finishReason": "STOP"}]}
            ),
            False,
            "not valid JSON of the schema",
        ),
        (
            Fail(200, body={"candidates": [{"content": {"parts": [{"text": "{}"}]}, "finishReason": "SAFETY"}]}),
            False,
            "stopped early",
        ),
        (Fail(delay_s=2.5), True, "timed out"),
    ],
)
def test_gemini_failures_are_classified_and_never_retried_inside(
    gemini_stub: Any, failure: Fail, retryable: bool, message: str
) -> None:
    gemini_stub.plan(failure)
    # a short timeout only where the stand-in answers late: a loaded machine must not turn a 429 into a timeout
    provider = GeminiScript(api_key="test-key", base_url=gemini_stub.url, timeout_s=1 if failure.delay_s else 30)
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
    from pipeline.config import ProviderSettings, Settings
    from pipeline.production import plan_job

    request = _request(script="Our own words.\n\nSecond scene.")
    job = plan_job(
        request,
        project_id=1,
        run_id="r",
        settings=Settings(data_dir=tmp_path, providers=ProviderSettings(script_provider="gemini")),
        storage=LocalStorage(tmp_path),
        voices=lambda name: frozenset({request.voice_name.lower()}),
        check_image_provider=lambda name: None,
        check_script_provider=lambda source: None,
    )
    assert job.script_source == "given"  # a script of its own: the generator is configured but not used
    script, call = make_script(request, provider=GivenScript(), storage=LocalStorage(tmp_path))
    assert (script.body, script.source, call) == (request.script, "given", None)
    assert gemini_stub.requests == []
    with pytest.raises(InvalidRequest, match="no script generator"):
        GivenScript().write_script(_request())
