"""The publishing DAG with dag.test(): a finished video of a channel with a webhook destination is sent to the
team's CMS (a loopback receiver checking the signature), once, whatever runs again."""

from __future__ import annotations

import email
import json
import secrets
from email import policy
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, text

from pipeline.constants import DagId
from pipeline.publish.store import publications_of
from tests.dags.parsing import parse_dag
from tests.stubs import Cms
from tests.youtube_standin import YouTubeStandIn
from tools.stack import AirflowSite

SECRET = "cms-signing-secret"


@pytest.fixture
def cms(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Cms:
    receiver = Cms(SECRET.encode())
    httpserver.expect_request("/hooks/video", method="POST").respond_with_handler(receiver)
    monkeypatch.setenv("AIRFLOW_CONN_CMS_HOOK", json.dumps({"conn_type": "generic", "password": SECRET}))
    return receiver


def _project_id(engine: Engine, request_key: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT p.id FROM video.projects p JOIN video.requests r ON r.id = p.request_id"
                    " WHERE r.request_key = :k"
                ),
                {"k": request_key},
            ).scalar_one()
        )


def _conf(channel: str) -> dict[str, Any]:
    token = secrets.token_hex(4)
    return {
        "request_id": f"pub-{token}",
        "title": f"Harbour {token}",
        "script": "Gulls follow the boats.\n\nThe market opens at noon.",
        "channel": channel,
        "notify_emails": ["ops@example.com"],
    }


def _mail_body(airflow_site: AirflowSite, subject: str) -> str:
    """The text of the one mail in the outbox with ``subject``."""
    outbox = airflow_site.data_dir / "outbox"
    (mail,) = [
        m
        for m in (email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox.glob("*.eml"))
        if str(m["Subject"]) == subject
    ]
    return str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def _made_for_the_cms(video_engine: Engine, httpserver: HTTPServer) -> tuple[dict[str, Any], int]:
    """A video made by dag.test() for a new channel whose one destination is the CMS's webhook: (conf, project)."""
    from pipeline.channels import check_kit, save_channel

    channel = f"pub-{secrets.token_hex(3)}"
    kit = check_kit(
        {"destinations": [{"name": "cms", "url": httpserver.url_for("/hooks/video"), "connection": "cms_hook"}]}
    )
    save_channel(video_engine, channel, kit, updated_by="t")
    conf = _conf(channel)
    assert parse_dag().test(run_conf=conf).state == "success"
    return conf, _project_id(video_engine, conf["request_id"])


def test_a_finished_video_goes_to_its_channels_cms_once(video_engine: Engine, cms: Cms, httpserver: HTTPServer) -> None:
    from pipeline.channels import check_kit, save_channel

    channel = f"pub-{secrets.token_hex(3)}"
    url = httpserver.url_for("/hooks/video")
    kit = check_kit({"destinations": [{"name": "cms", "url": url, "connection": "cms_hook"}]})
    save_channel(video_engine, channel, kit, updated_by="t")
    conf = _conf(channel)
    assert parse_dag().test(run_conf=conf).state == "success"
    project = _project_id(video_engine, conf["request_id"])

    publishing = parse_dag(DagId.PUBLISHING)
    run = publishing.test(run_conf={"project_id": project, "language": ""})
    assert run.state == "success"
    assert cms.refused == [] and cms.posts == 1
    (video,) = cms.videos.values()
    assert (video["request_id"], video["title"], video["width"], video["height"]) == (
        conf["request_id"],
        conf["title"],
        1280,
        720,
    )
    assert video["description"].startswith("Gulls follow the boats.") and video["video_url"].endswith(".mp4")
    (sent,) = publications_of(video_engine, project)
    assert (sent.destination, sent.kind, sent.status, sent.external_id) == ("cms", "webhook", "live", "cms-1")

    again = parse_dag(DagId.PUBLISHING).test(run_conf={"project_id": project, "language": ""})
    assert again.state == "success" and cms.posts == 1  # live already: nothing sent twice


def test_a_refused_send_fails_at_once_and_mails_what_to_do(
    video_engine: Engine, cms: Cms, httpserver: HTTPServer, airflow_site: AirflowSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CMS refuses the signature (the connection holds another secret): the send fails on its first try,
    nothing is retried, the row says failed with the reason, and the recipients get one mail that says what to do."""

    monkeypatch.setenv("AIRFLOW_CONN_CMS_HOOK", json.dumps({"conn_type": "generic", "password": "not-the-secret"}))
    conf, project = _made_for_the_cms(video_engine, httpserver)

    run = parse_dag(DagId.PUBLISHING).test(run_conf={"project_id": project, "language": ""})
    assert run.state == "failed"
    (send,) = [ti for ti in run.get_task_instances() if ti.task_id == "send"]
    assert send.state == "failed" and send.try_number == 1  # not retryable: no second try
    (row,) = publications_of(video_engine, project)
    assert row.status == "failed" and row.error == (
        "webhook: localhost answered 401: bad signature (check the destination's URL and secret)"
    )
    assert cms.videos == {} and cms.refused == ["signature"]
    body = _mail_body(airflow_site, f"Video not published to cms: {conf['title']}")
    assert "Reason: webhook: localhost answered 401: bad signature" in body
    assert f'trigger video_publishing with {{"project_id": {project}, "language": ""}}' in body


def _youtube_channel(
    video_engine: Engine, youtube: YouTubeStandIn, monkeypatch: pytest.MonkeyPatch, **conn: str
) -> str:
    """A channel with a YouTube destination whose connection holds the stand-in's grant."""
    from pipeline.channels import check_kit, save_channel

    channel = f"yt_{secrets.token_hex(3)}"
    monkeypatch.setenv(f"AIRFLOW_CONN_YOUTUBE_{channel.upper()}", youtube.connection_uri(**conn))
    destination = {"name": "youtube", "kind": "youtube", "connection": f"youtube_{channel}", "made_for_kids": False}
    save_channel(video_engine, channel, check_kit({"destinations": [destination]}), updated_by="t")
    return channel


def test_a_finished_video_is_uploaded_to_its_channels_youtube_once_with_its_thumbnail(
    video_engine: Engine, youtube: YouTubeStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = _conf(_youtube_channel(video_engine, youtube, monkeypatch))
    assert parse_dag().test(run_conf=conf).state == "success"
    project = _project_id(video_engine, conf["request_id"])

    run = parse_dag(DagId.PUBLISHING).test(run_conf={"project_id": project, "language": ""})
    assert run.state == "success"
    (sent,) = publications_of(video_engine, project)
    assert (sent.destination, sent.kind, sent.status) == ("youtube", "youtube", "live")
    video = youtube.videos[str(sent.external_id)]
    assert video["snippet"]["title"] == conf["title"]
    assert video["snippet"]["description"].startswith("Gulls follow the boats.")
    assert video["status"]["privacyStatus"] == "private" and video["status"]["selfDeclaredMadeForKids"] is False
    assert video["status"]["containsSyntheticMedia"] is False  # keyword cards and espeak: nothing realistic made
    assert youtube.thumbnails[str(sent.external_id)][:4] in {b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb"}
    (send,) = [ti for ti in run.get_task_instances() if ti.task_id == "send"]
    assert send.rendered_map_index == "youtube original"

    calls = len(youtube.calls)
    again = parse_dag(DagId.PUBLISHING).test(run_conf={"project_id": project, "language": ""})
    assert again.state == "success" and len(youtube.calls) == calls and len(youtube.videos) == 1


def test_revoked_youtube_credentials_fail_the_send_at_once_and_mail_reconnect_the_channel(
    video_engine: Engine, youtube: YouTubeStandIn, airflow_site: AirflowSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    youtube.revoke("revoked-1")
    channel = _youtube_channel(video_engine, youtube, monkeypatch, refresh_token="revoked-1")
    conf = _conf(channel)
    assert parse_dag().test(run_conf=conf).state == "success"
    project = _project_id(video_engine, conf["request_id"])

    run = parse_dag(DagId.PUBLISHING).test(run_conf={"project_id": project, "language": ""})
    assert run.state == "failed"
    (send,) = [ti for ti in run.get_task_instances() if ti.task_id == "send"]
    assert send.state == "failed" and send.try_number == 1  # nothing retried
    (row,) = publications_of(video_engine, project)
    assert row.error == (
        "youtube: YouTube refused the channel's credentials (invalid_grant): reconnect the channel "
        "(videoctl channel connect)"
    )
    assert youtube.calls == [] and youtube.videos == {}
    body = _mail_body(airflow_site, f"Video not published to youtube: {conf['title']}")
    assert f"Reconnect the channel: videoctl channel connect {channel}" in body


def test_a_version_no_event_run_took_is_sent_by_the_periodic_run_from_the_outbox(
    video_engine: Engine, cms: Cms, httpserver: HTTPServer
) -> None:
    """Airflow 3.3 may fold two quick rendered_videos events into one run and take only the first
    (apache/airflow#54659). Publishing writes each version's pending rows in its own transaction; a run with no
    event of its own (the 10-minute one) sends the rows no send has tried."""

    conf, project = _made_for_the_cms(video_engine, httpserver)
    (queued,) = publications_of(video_engine, project)  # written when the video was published
    assert (queued.status, queued.attempts, queued.destination) == ("pending", 0, "cms") and cms.posts == 0
    with video_engine.begin() as conn:  # as if its event's run had passed it by three minutes ago
        conn.execute(
            text("UPDATE video.publications SET created_at = now() - interval '3 minutes' WHERE project_id = :p"),
            {"p": project},
        )

    assert parse_dag(DagId.PUBLISHING).test().state == "success"  # no event, no params: the periodic run
    (sent,) = publications_of(video_engine, project)
    assert (sent.status, sent.attempts) == ("live", 1) and cms.posts == 1
    (video,) = cms.videos.values()
    assert video["request_id"] == conf["request_id"]
