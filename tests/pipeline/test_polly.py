"""Polly narration through boto3: real speech and speech marks from a stand-in, the voice list and the
placeholder audio from moto's server, SSML escaping, long texts split and joined, failures classified."""

from __future__ import annotations

import html
import json
import wave
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipeline.assets import narrate_scene
from pipeline.aws import no_retry_config
from pipeline.errors import InvalidRequest, ProviderError
from pipeline.storage import LocalStorage
from pipeline.voice.polly import PollyVoice, split_for_polly, to_ssml
from tests.stubs import Fail, paid_scene


def _polly(stub_or_url: Any, **kwargs: Any) -> PollyVoice:
    url = stub_or_url if isinstance(stub_or_url, str) else stub_or_url.url
    client = boto3.client(
        "polly",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=no_retry_config(read_timeout_s=5),
    )
    return PollyVoice(client=client, **kwargs)


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


def test_repeated_narration_in_one_video_is_synthesised_once(polly_stub: Any, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    provider = _polly(polly_stub)
    refrain = "And the tide comes in again."
    calls = [
        narrate_scene(paid_scene(i, text=refrain), provider=provider, storage=storage, work_dir=tmp_path / "work")[1]
        for i in (1, 4)
    ]
    assert [c.outcome for c in calls] == ["ok", "cached"]
    assert calls[0].model == "neural/Joanna"
    assert len(polly_stub.calls("/v1/speech")) == 2  # one audio, one set of speech marks
