"""Publishing to YouTube: the real google-api-python-client and google-auth against a loopback stand-in of the
Data API (tests/youtube_standin.py, TLS), with PostgreSQL holding the publications and the quota."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.channels import YouTubeDestination
from pipeline.db.repository import VideoRepository
from pipeline.db.schema import publications
from pipeline.errors import ProviderError
from pipeline.publish.store import publications_of, quota_used
from pipeline.publish.webhook import VideoMetadata
from pipeline.publish.youtube import (
    PACIFIC,
    QuotaDeferred,
    next_quota_day,
    publish_youtube,
    quota_day,
    youtube_service,
)
from pipeline.request import VideoRequest
from tests.stack_helpers import wait_for
from tests.stubs import make_clip
from tests.youtube_standin import YouTubeStandIn

ROOT = Path(__file__).resolve().parents[2]
NOON = dt.datetime(2026, 12, 7, 20, 0, tzinfo=dt.UTC)  # 12:00 Pacific
KIB = 1024


def _project(repository: VideoRepository) -> int:
    request = VideoRequest.model_validate(
        {"request_id": f"yt-{secrets.token_hex(3)}", "title": "Harbour", "script": "One.", "notify_emails": []}
    )
    return repository.register(request, dag_run_id=f"run-{secrets.token_hex(3)}").project_id


def _video(title: str = "A Day at the Harbour <b>") -> VideoMetadata:
    return VideoMetadata(
        request_id="harbour",
        language="en",
        title=title,
        description="Boats at dawn.\n\nVideo by Ana on Pexels: https://www.pexels.com/video/1/\nMusic: calm.wav (CC0)",
        duration_s=3.0,
        width=320,
        height=180,
        video_url="file:///unused",
        credits=("Video by Ana on Pexels: https://www.pexels.com/video/1/", "Music: calm.wav (CC0)"),
        tags=("harbour", "boats", "fishing boats"),
        ai_made=True,
    )


def _destination(**changes: object) -> YouTubeDestination:
    values: dict[str, object] = {
        "name": "yt",
        "kind": "youtube",
        "connection": "youtube_harbour",
        "made_for_kids": False,
        "privacy": "public",
    }
    return YouTubeDestination.model_validate({**values, **changes})


def _publish(
    repository: VideoRepository,
    youtube: YouTubeStandIn,
    project: int,
    video_file: Path,
    *,
    destination: YouTubeDestination | None = None,
    thumbnail: Path | None = None,
    now: dt.datetime = NOON,
    refresh_token: str | None = None,
    title: str = "A Day at the Harbour <b>",
    channel: str = "harbour",
):  # type: ignore[no-untyped-def]
    account = youtube.account(**({"refresh_token": refresh_token} if refresh_token else {}))
    return publish_youtube(
        repository.engine,
        youtube_service(account),
        channel=channel,
        project_id=project,
        language="",
        destination=destination or _destination(),
        video=_video(title),
        video_file=video_file,
        thumbnail=thumbnail,
        now=now,
        chunk_bytes=256 * KIB,
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_batch_is_published_once_each_with_metadata_thumbnail_playlist_and_a_scheduled_release(
    repository: VideoRepository, youtube: YouTubeStandIn, tmp_path: Path
) -> None:
    destination = _destination(release_at="18:00", playlist_id="PLharbour", privacy="unlisted")
    channel = f"harbour-{secrets.token_hex(3)}"
    thumbnail = tmp_path / "thumb.png"
    make_clip(tmp_path / "frame.mp4", 320, 180, 1.0)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(tmp_path / "frame.mp4"), "-frames:v", "1", str(thumbnail)], check=True
    )
    clips = [make_clip(tmp_path / f"video-{n}.mp4", 320, 180, 2.0 + n) for n in range(3)]
    projects = [_project(repository) for _ in clips]
    done = [
        _publish(repository, youtube, project, clip, destination=destination, thumbnail=thumbnail, channel=channel)
        for project, clip in zip(projects, clips, strict=True)
    ]
    assert [p.status for p in done] == ["scheduled"] * 3  # a release time: private until then
    assert len(youtube.videos) == 3
    for publication, clip in zip(done, clips, strict=True):
        video = youtube.videos[str(publication.external_id)]
        assert video["sha256"] == _sha256(clip)  # the bytes of the render, whole
        assert video["snippet"]["title"] == "A Day at the Harbour ‹b›"  # YouTube refuses < and >
        assert "Music: calm.wav (CC0)" in video["snippet"]["description"]
        assert video["snippet"]["tags"] == ["harbour", "boats", "fishing boats"]
        assert (video["snippet"]["categoryId"], video["snippet"]["defaultLanguage"]) == ("22", "en")
        assert video["status"] == {
            "privacyStatus": "private",
            "publishAt": "2026-12-08T18:00:00Z",  # the next 18:00 UTC after 20:00
            "selfDeclaredMadeForKids": False,
            "containsSyntheticMedia": True,
            "embeddable": True,
        }
        assert youtube.thumbnails[video["id"]] == thumbnail.read_bytes()
    assert sorted(item["snippet"]["resourceId"]["videoId"] for item in youtube.playlist_items) == sorted(
        str(p.external_id) for p in done
    )
    # per video: the upload 100, the thumbnail 50, the playlist's check 1 and insert 50
    assert quota_used(repository.engine, account=channel, day=quota_day(NOON)) == 3 * 201

    calls = len(youtube.calls)
    again = [
        _publish(repository, youtube, project, clip, destination=destination, thumbnail=thumbnail, channel=channel)
        for project, clip in zip(projects, clips, strict=True)
    ]
    assert [p.external_id for p in again] == [p.external_id for p in done]
    assert len(youtube.calls) == calls and len(youtube.videos) == 3  # nothing sent twice
    assert [p.attempts for p in again] == [1, 1, 1]  # a finished publication counts no more tries


def test_a_publishing_process_killed_mid_upload_resumes_from_the_stored_offset_and_makes_one_video(
    repository: VideoRepository, youtube: YouTubeStandIn, tmp_path: Path
) -> None:
    video_file = tmp_path / "long.mp4"
    video_file.write_bytes(os.urandom(12 * 256 * KIB))  # twelve chunks
    project = _project(repository)
    youtube.slow_chunks_s = 0.4
    # the child talks to the same stand-in through the grant it would read from its connection
    account = youtube.account()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, datetime as dt; from pathlib import Path\n"
            f"sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'include')!r}]\n"
            "from sqlalchemy import create_engine\n"
            "from pipeline.publish.youtube import YouTubeAccount, publish_youtube, youtube_service\n"
            "from tests.pipeline.test_youtube import _destination, _video\n"
            f"account = YouTubeAccount.model_validate_json({account.model_dump_json()!r})\n"
            f"engine = create_engine({repository.engine.url.render_as_string(hide_password=False)!r})\n"
            "publish_youtube(engine, youtube_service(account), channel='harbour', "
            f"project_id={project}, language='', destination=_destination(), video=_video(), "
            f"video_file=Path({str(video_file)!r}), thumbnail=None, chunk_bytes=256 * 1024)\n",
        ],
        cwd=ROOT,
    )
    try:
        sent = wait_for(
            lambda: _sent_bytes(repository, project) >= 3 * 256 * KIB,
            timeout_s=60,
            interval_s=0.05,
            what="three chunks confirmed",
        )
        child.send_signal(signal.SIGKILL)  # mid-upload: a worker lost, no clean-up
    finally:
        child.kill()
        child.wait()
    stored = _row(repository, project)
    assert stored["session_uri"] and stored["upload_sha256"] == _sha256(video_file)
    assert stored["status"] == "uploading" and stored["external_id"] is None and sent
    (session,) = youtube.sessions.values()
    assert len(session.data) < video_file.stat().st_size  # cut off half-way
    chunks_before = youtube.received_chunks

    youtube.slow_chunks_s = 0
    done = _publish(repository, youtube, project, video_file)
    assert done.status == "live"
    assert len(youtube.sessions) == 1 and len(youtube.videos) == 1  # the same session, one video
    (video,) = youtube.videos.values()
    assert video["sha256"] == _sha256(video_file) and video["size"] == video_file.stat().st_size
    # it went on from what YouTube had (at most the one chunk in flight again), not from the start
    assert youtube.received_chunks - chunks_before <= 12 - stored["sent_bytes"] // (256 * KIB)
    assert _row(repository, project)["sent_bytes"] == video_file.stat().st_size


def test_a_finished_upload_whose_answer_was_lost_is_found_by_its_session_not_sent_again(
    repository: VideoRepository, youtube: YouTubeStandIn, tmp_path: Path
) -> None:
    video_file = make_clip(tmp_path / "short.mp4", 320, 180, 2.0)
    project = _project(repository)
    youtube.fail("thumbnails", 503, "backendError")  # the upload completes, then the task fails
    thumbnail = tmp_path / "thumb.png"
    thumbnail.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    with pytest.raises(ProviderError, match="503 backendError") as failed:
        _publish(repository, youtube, project, video_file, thumbnail=thumbnail)
    assert failed.value.retryable
    assert _row(repository, project)["status"] == "pending"
    with repository.engine.begin() as conn:  # as if the video's id had never been stored
        conn.execute(publications.update().where(publications.c.project_id == project).values(external_id=None))
    done = _publish(repository, youtube, project, video_file, thumbnail=thumbnail)
    assert done.status == "live" and len(youtube.videos) == 1 and done.external_id in youtube.videos
    assert youtube.thumbnails[str(done.external_id)] == thumbnail.read_bytes()


def test_quota_exhaustion_defers_the_rest_to_the_next_quota_day_and_they_go_then(
    repository: VideoRepository, youtube: YouTubeStandIn, tmp_path: Path
) -> None:
    destination = _destination(daily_quota=250)  # two uploads (100 each) a day
    channel = f"harbour-{secrets.token_hex(3)}"
    clip = make_clip(tmp_path / "v.mp4", 320, 180, 2.0)
    projects = [_project(repository) for _ in range(3)]
    assert _publish(repository, youtube, projects[0], clip, destination=destination, channel=channel).status == "live"
    assert _publish(repository, youtube, projects[1], clip, destination=destination, channel=channel).status == "live"
    with pytest.raises(QuotaDeferred) as deferred:
        _publish(repository, youtube, projects[2], clip, destination=destination, channel=channel)
    midnight_pacific = dt.datetime(2026, 12, 8, 0, 0, tzinfo=PACIFIC)
    assert deferred.value.until == midnight_pacific == next_quota_day(NOON)
    assert "quota for today (250 units) is spent: sending again at 2026-12-08 08:00 UTC" in deferred.value.message
    third = _row(repository, projects[2])
    assert (third["status"], third["session_uri"]) == ("pending", None)  # nothing was sent
    assert len(youtube.videos) == 2

    tomorrow = deferred.value.until + dt.timedelta(minutes=1)
    assert (
        _publish(repository, youtube, projects[2], clip, destination=destination, now=tomorrow, channel=channel).status
        == "live"
    )
    assert len(youtube.videos) == 3
    assert quota_used(repository.engine, account=channel, day=quota_day(tomorrow)) == 100

    # a quota no video fits in is no reason to wait: it is said at once
    with pytest.raises(ProviderError, match=r"one video costs 201 YouTube API units, more than .* \(200\)") as small:
        _publish(
            repository, youtube, _project(repository), clip, thumbnail=clip, channel=channel,
            destination=_destination(daily_quota=200, playlist_id="PLx"),
        )  # fmt: skip
    assert not small.value.retryable

    # YouTube's own word counts too: its quotaExceeded marks the day spent, the video waits for the next
    later = _project(repository)
    youtube.fail("/upload/youtube/v3/videos", 403, "quotaExceeded")
    with pytest.raises(QuotaDeferred, match="spent"):
        _publish(repository, youtube, later, clip, destination=destination, now=tomorrow, channel=channel)
    assert quota_used(repository.engine, account=channel, day=quota_day(tomorrow)) == 250
    day_after = tomorrow + dt.timedelta(days=1)
    assert (
        _publish(repository, youtube, later, clip, destination=destination, now=day_after, channel=channel).status
        == "live"
    )
    assert len(youtube.videos) == 4


def test_revoked_credentials_fail_at_once_with_reconnect_the_channel_and_api_errors_carry_their_reason(
    repository: VideoRepository, youtube: YouTubeStandIn, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "v.mp4", 320, 180, 2.0)
    youtube.revoke("revoked-token")
    project = _project(repository)
    with pytest.raises(ProviderError) as refused:
        _publish(repository, youtube, project, clip, refresh_token="revoked-token")
    assert not refused.value.retryable
    assert refused.value.message == (
        "youtube: YouTube refused the channel's credentials (invalid_grant): reconnect the channel "
        "(videoctl channel connect)"
    )
    assert youtube.calls == []  # nothing reached the API
    assert (_row(repository, project)["status"], _row(repository, project)["error"]) == (
        "failed",
        refused.value.message,
    )

    for _ in range(3):  # the client refreshes its token and asks again, twice
        youtube.fail("/upload/youtube/v3/videos", 401, "authError")
    with pytest.raises(ProviderError, match=r"\(401 authError\): reconnect the channel") as unauthorised:
        _publish(repository, youtube, _project(repository), clip)
    assert not unauthorised.value.retryable

    youtube.fail("/upload/youtube/v3/videos", 403, "forbidden")
    with pytest.raises(ProviderError, match="YouTube answered 403 forbidden: the stand-in says forbidden") as no:
        _publish(repository, youtube, _project(repository), clip)
    assert not no.value.retryable
    youtube.fail("/upload/youtube/v3/videos", 500, "backendError")
    with pytest.raises(ProviderError, match="500 backendError") as busy:
        _publish(repository, youtube, _project(repository), clip)
    assert busy.value.retryable
    assert len(youtube.videos) == 0


def _row(repository: VideoRepository, project: int) -> dict[str, object]:
    with repository.engine.connect() as conn:
        return dict(conn.execute(select(publications).where(publications.c.project_id == project)).mappings().one())


def _sent_bytes(repository: VideoRepository, project: int) -> int:
    return sum(p.sent_bytes for p in publications_of(repository.engine, project))
