"""Publishing to a team's CMS: the webhook destination against a loopback receiver that checks the signature the
way docs/publishing.md tells a receiver to, with the real httpx client and PostgreSQL."""

from __future__ import annotations

import secrets
import time

import pytest
from pytest_httpserver import HTTPServer

from pipeline.db.repository import VideoRepository
from pipeline.errors import ProviderError
from pipeline.publish import publish_webhook
from pipeline.publish.store import Publication, idempotency_key, publications_of
from pipeline.publish.webhook import VideoMetadata
from pipeline.request import VideoRequest
from tests.stubs import Cms

SECRET = b"s3cret-of-the-cms"


@pytest.fixture
def cms(httpserver: HTTPServer) -> Cms:
    receiver = Cms(SECRET)
    httpserver.expect_request("/hooks/video", method="POST").respond_with_handler(receiver)
    return receiver


def _project(repository: VideoRepository) -> int:
    request = VideoRequest.model_validate(
        {"request_id": f"pub-{secrets.token_hex(3)}", "title": "Harbour", "script": "One.", "notify_emails": []}
    )
    return repository.register(request, dag_run_id=f"run-{secrets.token_hex(3)}").project_id


def _send(
    repository: VideoRepository, project: int, url: str, language: str = "", secret: bytes = SECRET
) -> Publication:
    return publish_webhook(
        repository.engine,
        project_id=project,
        language=language,
        destination="cms",
        url=url,
        secret=secret,
        video=_video(language),
    )


def _video(language: str = "") -> VideoMetadata:
    return VideoMetadata(
        request_id="harbour",
        language=language,
        title="A Day at the Harbour <b>",
        description="Boats at dawn.\n\nVideo by Ana on Pexels: https://www.pexels.com/video/1/",
        duration_s=42.5,
        width=1080,
        height=1920,
        video_url="https://bucket.example/video.mp4?X-Amz-Expires=900",
        credits=("Video by Ana on Pexels: https://www.pexels.com/video/1/",),
    )


def test_a_video_is_delivered_signed_once_and_a_second_publish_sends_nothing(
    repository: VideoRepository, cms: Cms, httpserver: HTTPServer
) -> None:
    project = _project(repository)
    url = httpserver.url_for("/hooks/video")
    sent = _send(repository, project, url)
    assert (sent.status, sent.external_id, sent.attempts, sent.error) == ("live", "cms-1", 1, None)
    assert cms.refused == [] and cms.posts == 1
    (stored,) = cms.videos.values()
    assert stored["title"] == "A Day at the Harbour <b>" and stored["height"] == 1920  # text stays text
    assert stored["credits"] == ["Video by Ana on Pexels: https://www.pexels.com/video/1/"]
    again = _send(repository, project, url)
    assert again.status == "live" and cms.posts == 1  # nothing sent twice
    german = _send(repository, project, url, language="de")
    assert german.idempotency_key != sent.idempotency_key and len(cms.videos) == 2  # a version of its own
    assert [(p.language, p.status) for p in publications_of(repository.engine, project)] == [
        ("", "live"),
        ("de", "live"),
    ]


def test_a_lost_answer_is_retried_with_the_same_key_and_the_cms_keeps_one_video(
    repository: VideoRepository, cms: Cms, httpserver: HTTPServer
) -> None:
    """The CMS stores the video but its answer is a 503: the retry (Airflow's) carries the same idempotency key,
    the CMS answers that it has it, the publication goes live; one video in the CMS."""
    project, url = _project(repository), httpserver.url_for("/hooks/video")
    cms.fail_first = [503]
    with pytest.raises(ProviderError) as busy:
        _send(repository, project, url)
    assert busy.value.retryable and busy.value.retry_after == 7
    assert busy.value.message == "webhook: localhost answered 503: busy"
    (pending,) = publications_of(repository.engine, project)
    assert (pending.status, pending.error) == ("pending", "webhook: localhost answered 503: busy")
    done = _send(repository, project, url)
    assert (done.status, done.attempts, done.error) == ("live", 2, None)
    assert cms.posts == 2 and list(cms.videos) == [idempotency_key(project, "", "cms")]


def test_a_wrong_secret_fails_at_once_with_the_reason_and_nothing_is_retried(
    repository: VideoRepository, cms: Cms, httpserver: HTTPServer
) -> None:
    project, url = _project(repository), httpserver.url_for("/hooks/video")
    with pytest.raises(ProviderError) as refused:
        _send(repository, project, url, secret=b"x")
    assert not refused.value.retryable
    assert refused.value.message == (
        "webhook: localhost answered 401: bad signature (check the destination's URL and secret)"
    )
    (failed,) = publications_of(repository.engine, project)
    assert failed.status == "failed" and cms.refused == ["signature"] and cms.videos == {}


def test_a_replayed_request_is_refused_by_its_age_and_an_unreachable_cms_is_retryable(
    repository: VideoRepository, cms: Cms, httpserver: HTTPServer
) -> None:
    """A request captured and sent again later carries its old signed timestamp: the receiver refuses it."""
    from pipeline.publish.webhook import deliver

    url = httpserver.url_for("/hooks/video")
    with pytest.raises(ProviderError, match="answered 401: too old"):
        deliver(url, SECRET, _video(), idempotency_key="k-old", now=time.time() - 3600)
    assert cms.refused == ["old"] and cms.videos == {}
    with pytest.raises(ProviderError) as unreachable:
        deliver("http://127.0.0.1:9/hooks/video", SECRET, _video(), idempotency_key="k-none", timeout_s=2)
    assert unreachable.value.retryable and unreachable.value.message.startswith("webhook: no answer from 127.0.0.1")


def test_a_send_another_task_holds_sends_nothing_and_the_outbox_lists_what_no_send_tried(
    repository: VideoRepository, cms: Cms, httpserver: HTTPServer
) -> None:
    import datetime as dt

    from pipeline.publish.store import sending
    from pipeline.publish.targets import unsent_versions

    project = _project(repository)
    url = httpserver.url_for("/hooks/video")
    key = idempotency_key(project, "", "cms")
    with sending(repository.engine, key) as mine:  # another task is sending it
        assert mine
        with sending(repository.engine, key) as also_mine:
            assert not also_mine
        waiting = _send(repository, project, url)
        assert (waiting.status, cms.posts) == ("pending", 0)  # nothing sent beside the holder
        assert (project, "") not in unsent_versions(repository.engine, grace=dt.timedelta(0))  # tried: not lost
    assert _send(repository, project, url).status == "live" and cms.posts == 1
