"""The one request model: what it accepts, how it refuses, and the form fields generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ProviderSettings, Settings
from pipeline.errors import InvalidRequest
from pipeline.production import plan_job
from pipeline.request import LookAndSound, VideoRequest, form_fields
from pipeline.storage import LocalStorage

VOICES = frozenset({"en-us", "en-gb"})


def test_a_refused_request_names_every_field_in_one_short_line() -> None:
    with pytest.raises(InvalidRequest) as caught:
        VideoRequest.from_conf(
            {"request_id": "bad id!", "title": "", "aspect": "4:3", "notify_emails": ["nope"], "script": "x" * 30_000}
        )
    message = caught.value.message
    for field in ("request_id", "title", "aspect", "notify_emails", "script: at most 20,000 characters"):
        assert field in message
    assert "\n" not in message and len(message) < 600  # the 30,000-character script is not echoed
    assert not caught.value.retryable


def test_unknown_keys_are_named() -> None:
    with pytest.raises(InvalidRequest, match=r"unknown fields \"colour\", \"speed\" in the request: remove them"):
        VideoRequest.from_conf({"title": "t", "script": "s", "colour": "red", "speed": 2})


def test_a_flat_conf_round_trips_and_fills_in_the_request_id() -> None:
    conf = {"title": "  Harbour  ", "script": "One.", "crossfade_s": 1, "ken_burns": False, "aspect": "9:16"}
    request = VideoRequest.from_conf(conf, default_id="manual__2026")
    assert (request.title, request.key, request.look.crossfade_s, request.look.ken_burns) == (
        "Harbour",
        "manual__2026",
        1.0,
        False,
    )
    assert VideoRequest.from_conf(request.to_conf()) == request
    assert VideoRequest.from_conf({**conf, "request_id": "mine"}, default_id="other").key == "mine"


def test_frame_size_follows_aspect_and_resolution() -> None:
    request = VideoRequest(request_id="r", title="t", script="s", aspect="9:16", resolution=1080)
    assert request.frame_size == (1080, 1920)


def test_form_fields_come_from_the_model_with_one_set_of_defaults() -> None:
    fields = form_fields()
    assert "default" not in fields["title"]  # required
    for name in ("script", "topic", "tone", "audience", "music", "notify_emails", "request_id", "image_provider"):
        assert "null" in fields[name]["type"] and fields[name]["default"] is None, name
    look = LookAndSound()
    for name in LookAndSound.model_fields:
        assert fields[name]["section"] == "Look and sound"
        assert fields[name].get("default") == getattr(look, name)
    assert "At most 20,000 characters." in fields["script"]["description"]
    assert "From 0 to 2." in fields["crossfade_s"]["description"]
    assert fields["voice_provider"]["enum"] == ["espeak", "polly", None]


def _plan(request: VideoRequest, tmp_path: Path, **providers: object) -> object:
    return plan_job(
        request,
        project_id=1,
        run_id="run",
        settings=Settings(data_dir=tmp_path, providers=ProviderSettings(**providers)),  # type: ignore[arg-type]
        storage=LocalStorage(tmp_path / "storage"),
        voices=lambda name: VOICES,
        check_image_provider=lambda name: None,
        check_script_provider=lambda source: None,
    )


def test_plan_needs_a_script_or_a_topic_and_a_known_voice(tmp_path: Path) -> None:
    job = _plan(VideoRequest(request_id="r", title="t", script="Hi.", voice="EN-US"), tmp_path)
    assert (job.script_source, job.image_provider, job.voice_provider) == ("given", "procedural", "espeak")  # type: ignore[attr-defined]
    with pytest.raises(InvalidRequest, match=r"unknown voice 'xx' for espeak: choose one such as en-gb"):
        _plan(VideoRequest(request_id="r", title="t", script="Hi.", voice="xx"), tmp_path)
    for nothing in ("  ", "🎬 … !"):  # nothing to narrate: refused by the model itself, before any task
        with pytest.raises(InvalidRequest, match=r"^invalid video request: script: (give a script|has no words)"):
            VideoRequest.from_conf({"title": "t", "script": nothing})
    with pytest.raises(InvalidRequest, match=r"no script generator is configured: add a script, or configure one"):
        _plan(VideoRequest(request_id="r", title="t", topic="Whales"), tmp_path)
    assert _plan(VideoRequest(request_id="r", title="t", topic="Whales"), tmp_path, script_provider="gemini")
    music = r"no music track 'missing.mp3'.*add it \(videoctl music add, the Videos page\), or leave Background music"
    with pytest.raises(InvalidRequest, match=music):
        _plan(VideoRequest(request_id="r", title="t", script="Hi.", look=LookAndSound(music="missing.mp3")), tmp_path)


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"title": "Two\nlines"}, "title: must be some text on one line, without control characters"),
        ({"title": "Bell \x07 and escape \x1b[31m"}, "title: must be some text on one line"),
        ({"title": "T", "script": "a\x00b"}, "script: must not contain NUL characters"),
        ({"title": "T", "topic": "\x00"}, "topic: must not contain NUL characters"),
        ({"title": "T", "voice": "en\x07"}, "voice: must not contain control characters"),
        ({"title": "T", "notify_emails": ["ops\r\nBcc: x@evil.io@example.com"]}, "notify_emails.0: must be an email"),
    ],
)
def test_text_rules_refuse_control_characters_where_they_do_harm(conf: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(")):
        VideoRequest.from_conf({"script": "Hi.", **conf})


def test_scripts_keep_newlines_and_tabs_drop_other_controls_and_are_nfc() -> None:
    request = VideoRequest.from_conf(
        {"title": "Cafe\u0301", "script": "One\x07 line.\n\n\tTwo\x1b[31m \x85lines.", "tone": "warm\x0b"}
    )
    assert request.script == "One line.\n\n\tTwo[31m lines."
    assert request.tone == "warm"
    assert request.title == "Caf\u00e9"  # composed once, at the boundary


def test_media_sources_are_known_names_each_once_and_the_factory_default_fills_in() -> None:
    from pipeline.errors import InvalidRequest

    request = VideoRequest.from_conf({"title": "t", "script": "Words.", "media_sources": ["pexels", "library"]})
    assert request.media_sources == ("pexels", "library")
    assert request.to_conf()["media_sources"] == ["pexels", "library"]
    with pytest.raises(InvalidRequest, match=r"media_sources: name each source once"):
        VideoRequest.from_conf({"title": "t", "script": "Words.", "media_sources": ["pexels", "pexels"]})
    with pytest.raises(InvalidRequest, match=r"media_sources.0: must be 'library' or 'pexels' \(got \"flickr\"\)"):
        VideoRequest.from_conf({"title": "t", "script": "Words.", "media_sources": ["flickr"]})
