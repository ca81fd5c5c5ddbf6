from __future__ import annotations

import pytest

from pipeline.errors import InvalidRequest
from pipeline.models import VideoRequest, check_request

VOICES = frozenset({"en-us", "en-gb"})


def test_parse_collects_every_problem_in_one_message() -> None:
    with pytest.raises(InvalidRequest) as caught:
        VideoRequest.parse({"request_id": "bad id!", "title": "", "aspect": "4:3", "notify_emails": ["nope"]})
    message = caught.value.message
    for field in ("request_id", "title", "aspect", "notify_emails"):
        assert field in message
    assert not caught.value.retryable


def test_frame_size_follows_aspect_and_resolution() -> None:
    request = VideoRequest(request_id="r", title="t", script="s", aspect="9:16", resolution=1080)
    assert request.frame_size == (1080, 1920)


def test_check_request_needs_script_or_topic_and_a_known_voice() -> None:
    check_request(VideoRequest(request_id="r", title="t", topic="Whales"), voices=VOICES)
    with pytest.raises(InvalidRequest, match=r"give a script.*unknown voice 'xx'.*en-gb, en-us"):
        check_request(VideoRequest(request_id="r", title="t", script="  ", voice="xx"), voices=VOICES)
    check_request(VideoRequest(request_id="r", title="t", script="Hi.", voice="EN-US"), voices=VOICES)
