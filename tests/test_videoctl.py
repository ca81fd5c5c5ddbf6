"""``videoctl`` as a user types it, against the API server, scheduler and triggerer the tests start, and the nightly
batch run by the real scheduler: REST-triggered, its deadline alert fired by the triggerer."""

from __future__ import annotations

import datetime as dt
import email
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from email import policy
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text

from pipeline.constants import DagId
from pipeline.db.queue import insert_pending
from pipeline.db.repository import request_columns
from pipeline.markdown import plain
from pipeline.request import VideoRequest
from tests.stack_helpers import DAG, logs_text, run_state, wait_for
from tests.youtube_standin import YouTubeStandIn
from tools.stack import AIRFLOW_USER, AirflowSite
from tools.supervise import print_logs

VIDEOCTL = Path(sys.executable).parent / "videoctl"
TITLE = "From the [bold]terminal[/bold] **now**"
SCRIPT = "Ships leave the harbour at dawn.\n\nGulls follow them out to sea.\n\nBy night the lamps are lit."


def videoctl(
    site: AirflowSite, *args: str, password: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AIRFLOW_API_URL": site.api_url,
        "AIRFLOW_USERNAME": AIRFLOW_USER,
        "AIRFLOW_PASSWORD": password or site.password(),
        "VIDEO_DB_URL": site.video_db.render_as_string(hide_password=False),
        "COLUMNS": "200",
    }
    return subprocess.run([str(VIDEOCTL), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_submit_wait_status_and_list(airflow: httpx.Client, airflow_site: AirflowSite, tmp_path: Path) -> None:
    request_id = f"cli-{secrets.token_hex(4)}"
    script = tmp_path / "harbour.txt"
    script.write_text(SCRIPT)
    submitted = videoctl(
        airflow_site,
        "submit",
        str(script),
        "--title",
        TITLE,
        "--request-id",
        request_id,
        "--aspect",
        "9:16",
        "--voice",
        "en-gb",
        "--no-ken-burns",
        "--wait",
        timeout=600,
    )
    if submitted.returncode != 0:
        print_logs(airflow_site.home / "logs")
    assert submitted.returncode == 0, submitted.stderr
    assert f"Submitted {request_id} as run video__{request_id}." in submitted.stdout
    assert f"video__{request_id}: success; video file://" in submitted.stdout

    status = json.loads(videoctl(airflow_site, "status", request_id, "--json").stdout)
    assert status["state"] == "success" and status["title"] == TITLE
    video = Path(status["video_url"].removeprefix("file://"))
    assert video.is_file() and status["duration_s"] > 3
    listed = json.loads(videoctl(airflow_site, "list", "--status", "success", "--json").stdout)
    assert any(run["run_id"] == f"video__{request_id}" and run["title"] == TITLE for run in listed)
    table = videoctl(airflow_site, "list", "--limit", "5")
    assert table.returncode == 0 and f"video__{request_id}" in table.stdout
    assert TITLE in table.stdout  # as typed: neither Rich's markup nor Markdown read into it

    again = videoctl(airflow_site, "submit", str(script), "--title", "Again", "--request-id", request_id)
    assert again.returncode == 4
    assert _one_line_error(again).startswith(f"request {request_id} was submitted before")


def test_retry_after_fixing_the_cause_makes_the_video(
    airflow: httpx.Client, airflow_site: AirflowSite, tmp_path: Path
) -> None:
    request_id, track = f"retry-{secrets.token_hex(4)}", f"tune-{secrets.token_hex(3)}.wav"
    failed = videoctl(
        airflow_site,
        "submit",
        "--script",
        SCRIPT,
        "--title",
        "Needs its music",
        "--request-id",
        request_id,
        "--music",
        track,
        "--wait",
        timeout=600,
    )
    assert failed.returncode == 1, failed.stderr
    assert "failed at register" in failed.stdout and track in failed.stdout

    # the operator uploads the track, then retries: only the failed task and what follows it run again
    music = airflow_site.data_dir / "storage" / "music"
    music.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=330:duration=4", "-y", str(music / track)],
        check=True,
    )
    retried = videoctl(airflow_site, "retry", request_id)
    assert retried.returncode == 0, retried.stderr
    assert "Retrying" in retried.stdout and f"video__{request_id}" in retried.stdout

    def done() -> dict[str, Any] | None:
        facts = json.loads(videoctl(airflow_site, "status", request_id, "--json").stdout)
        return facts if facts["state"] in ("success", "failed") else None

    facts = wait_for(done, timeout_s=600, what="the retried run", interval_s=3)
    assert facts["state"] == "success", facts
    assert facts["video_url"]


def test_cancel_stops_the_run_and_marks_the_request(
    airflow: httpx.Client, airflow_site: AirflowSite, video_engine: Engine
) -> None:
    request_id = f"cancel-{secrets.token_hex(4)}"
    long_script = "\n\n".join(f"Scene {n} of a long story about the sea." for n in range(1, 25))
    submitted = videoctl(
        airflow_site, "submit", "--script", long_script, "--title", "Too long", "--request-id", request_id
    )
    assert submitted.returncode == 0, submitted.stderr
    wait_for(
        lambda: airflow.get(f"/dags/{DAG}/dagRuns/video__{request_id}").json()["state"] == "running",
        timeout_s=120,
        what="the run to start",
    )
    cancelled = videoctl(airflow_site, "cancel", request_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.strip() == f"Cancelled video__{request_id}."
    again = videoctl(airflow_site, "cancel", request_id)
    assert again.returncode == 4 and "has already ended (failed)" in _one_line_error(again)
    run = airflow.get(f"/dags/{DAG}/dagRuns/video__{request_id}").json()
    tis = airflow.get(f"/dags/{DAG}/dagRuns/video__{request_id}/taskInstances").json()["task_instances"]
    assert "render" in {ti["task_id"] for ti in tis if ti["state"] == "skipped"}  # it never rendered
    assert run["state"] == "failed" and run["note"].startswith("Cancelled by ")
    with video_engine.connect() as conn:
        row = conn.execute(
            text("SELECT status FROM video.requests WHERE request_key = :k"), {"k": request_id}
        ).scalar_one_or_none()
    assert row in ("cancelled", None)  # None: cancelled before register recorded the request


def test_a_schema_violating_submit_is_one_line_and_writes_nothing(
    airflow: httpx.Client, airflow_site: AirflowSite, count_rows: Callable[..., int]
) -> None:
    request_id = f"bad-{secrets.token_hex(4)}"
    refused = videoctl(airflow_site, "submit", "--script", "Hi.", "--title", "T" * 250, "--request-id", request_id)
    assert refused.returncode == 3
    assert _one_line_error(refused) == "title: at most 200 characters (got 250)"
    assert count_rows("requests", "request_key = :k", k=request_id) == 0
    assert airflow.get(f"/dags/{DAG}/dagRuns/video__{request_id}").status_code == 404

    wrong = videoctl(airflow_site, "status", "anything", password="wrong-password")
    assert wrong.returncode == 6
    assert "did not accept the credentials" in _one_line_error(wrong)
    missing = videoctl(airflow_site, "status", f"nothing-{secrets.token_hex(3)}")
    assert missing.returncode == 7 and _one_line_error(missing).startswith("not found")


def test_the_nightly_batch_through_the_scheduler_with_its_summary_and_deadline_alert(
    airflow: httpx.Client, airflow_site: AirflowSite, airflow_logs: Path, video_engine: Engine
) -> None:
    prefix = f"nb{secrets.token_hex(3)}-"
    rows = [
        {
            "request_id": f"{prefix}one",
            "title": "Batch one",
            "script": "One small film.",
            "submitted_by": "ana@example.com",
        },
        {
            "request_id": f"{prefix}two",
            "title": "Batch two",
            "script": "Another small film.",
            "aspect": "1:1",
            "priority": 90,
        },
        {
            "request_id": f"{prefix}bad",
            "title": "Batch bad",
            "script": "A voice nobody has.",
            "voice": "xx-none",
            "submitted_by": "ana@example.com",
        },
    ]
    with video_engine.begin() as conn:  # other tests' pending rows wait for a later night, not this batch
        conn.execute(text("UPDATE video.requests SET scheduled_for = '2100-01-01' WHERE status = 'pending'"))
    import_file = airflow_site.data_dir / f"{prefix}batch.jsonl"
    import_file.parent.mkdir(parents=True, exist_ok=True)
    import_file.write_text("\n".join(json.dumps(row) for row in rows))
    imported = videoctl(airflow_site, "import", str(import_file), "--skip-invalid")
    assert imported.returncode == 0, imported.stderr  # the batch's own rules ran at the door: the bad voice is out
    assert "row 3: voice: not a voice of its provider: espeak:xx-none" in imported.stderr
    # a row another tool wrote to the table, unchecked: the batch rejects it
    bad = VideoRequest.from_conf({key: value for key, value in rows[2].items() if key != "submitted_by"})
    insert_pending(video_engine, [{"request_key": bad.key, "submitted_by": "ana@example.com", **request_columns(bad)}])
    # seven hours ago: the six-hour deadline has passed as soon as the run exists, so the triggerer alerts at once
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(hours=7)
    logical, night = moment.isoformat(), f"{moment:%Y%m%d}"
    run_id = f"batch-{prefix}"
    response = airflow.post("/dags/nightly_batch/dagRuns", json={"dag_run_id": run_id, "logical_date": logical})
    assert response.status_code == 200, response.text

    state = wait_for(
        lambda: run_state(airflow, run_id, DagId.BATCH), timeout_s=900, what="the batch to finish", interval_s=5
    )
    if state != "success":
        print_logs(airflow_site.home / "logs")
    assert state == "success"
    with video_engine.connect() as conn:
        statuses = dict(
            conn.execute(
                text("SELECT request_key, status FROM video.requests WHERE request_key LIKE :p"), {"p": f"{prefix}%"}
            ).all()
        )
    assert statuses == {f"{prefix}one": "completed", f"{prefix}two": "completed", f"{prefix}bad": "rejected"}
    weights = {
        name: airflow.get(f"/dags/{DAG}/dagRuns/video__{prefix}{name}__{night}/taskInstances/render/0").json()[
            "priority_weight"
        ]
        for name in ("one", "two")
    }
    assert weights["two"] == weights["one"] + 9000  # priority 90 against 0
    by_request = videoctl(airflow_site, "status", f"{prefix}one")  # a batch row's run, named by its request id
    assert by_request.stdout.startswith(f"video__{prefix}one__{night}: success; video "), by_request.stderr
    note = plain(airflow.get(f"/dags/nightly_batch/dagRuns/{run_id}").json()["note"])
    assert note.startswith("Batch: 2 completed, 1 rejected;"), note
    labels = airflow.get(f"/dags/nightly_batch/dagRuns/{run_id}/taskInstances/trigger/listMapped").json()
    assert sorted(ti["rendered_map_index"] for ti in labels["task_instances"]) == [
        f"{prefix}one: Batch one",
        f"{prefix}two: Batch two",
    ]
    events = airflow.get("/assets/events", params={"source_dag_id": DagId.BATCH, "source_run_id": run_id}).json()[
        "asset_events"
    ]
    assert [event["extra"]["counts"] for event in events] == [{"completed": 2, "rejected": 1}]
    summary = videoctl(airflow_site, "batch", "--json")
    [mine] = [item for item in json.loads(summary.stdout) if item["run_id"] == run_id]
    assert mine["summary"]["counts"] == {"completed": 2, "rejected": 1}
    assert mine["summary"]["video_minutes"] > 0
    assert mine["summary"]["rejected"][0]["reasons"][0]["field"] == "voice"

    mails = {}
    for path in sorted((airflow_site.data_dir / "outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        if prefix in body or run_id in body:
            mails[str(message["Subject"]).strip()] = (message, body)
    subjects = sorted(mails)
    assert "1 video request(s) rejected by the nightly batch" in subjects
    assert any(s.startswith("Nightly batch: 2 completed, 1 rejected") for s in subjects), subjects

    # the deadline passed when the run was made; the triggerer's alert lists what was unfinished when it ran (the
    # batch may have claimed its rows by then), or, when nothing was, says so in its log and mails nobody
    def alerted() -> list[str]:
        late = [s for s in _subjects_with(airflow_site, run_id) if s.startswith("Nightly batch late")]
        quiet = f"batch {run_id} passed its deadline with nothing unfinished" in logs_text(airflow_logs)
        return late or (["(no email)"] if quiet else [])

    outcome = wait_for(alerted, timeout_s=120, what="the deadline callback's email or its log line")
    assert outcome == ["(no email)"] or (len(outcome) == 1 and not outcome[0].startswith("Nightly batch late: 0 ")), (
        outcome
    )


def _subjects_with(site: AirflowSite, needle: str) -> list[str]:
    found = []
    for path in sorted((site.data_dir / "outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if needle in message.get_body(("plain",)).get_content():  # type: ignore[union-attr]
            found.append(str(message["Subject"]).strip())
    return found


def test_channel_connect_walks_a_person_through_googles_consent_and_stores_the_grant_in_airflow(
    airflow: httpx.Client, airflow_site: AirflowSite, youtube: YouTubeStandIn, tmp_path: Path
) -> None:
    """The browser step for real: videoctl prints Google's consent address, the person (here httpx) opens it and
    says yes, Google sends the browser back to videoctl's local port with a code, videoctl trades it for a
    refresh token; the grant becomes an Airflow connection and the channel gets its YouTube destination."""
    import re

    channel = f"connect_{secrets.token_hex(3)}"
    assert videoctl(airflow_site, "channel", "set", channel, "--title", "Harbour").returncode == 0
    env = {
        **os.environ,
        "AIRFLOW_API_URL": airflow_site.api_url,
        "AIRFLOW_USERNAME": AIRFLOW_USER,
        "AIRFLOW_PASSWORD": airflow_site.password(),
        "VIDEO_DB_URL": airflow_site.video_db.render_as_string(hide_password=False),
        "REQUESTS_CA_BUNDLE": str(youtube.ca_file),  # the stand-in's certificate, for the code's exchange
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "400",
    }
    command = [
        str(VIDEOCTL), "channel", "connect", channel, "--not-made-for-kids",
        "--client-secrets", str(youtube.client_secrets(tmp_path / "client_secret.json")),
        "--release-at", "18:00", "--playlist", "PLharbour",
        "--api-endpoint", f"{youtube.url}/", "--ca-certs", str(youtube.ca_file),
    ]  # fmt: skip
    person = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert person.stdout is not None
        said = ""
        while not (found := re.search(r"https://\S+/auth\?\S+", said)):
            line = person.stdout.readline()
            assert line, person.stderr.read() if person.stderr else "videoctl ended"
            said += line
        assert "browser signed in to the Google account that owns the YouTube channel" in said
        consent = httpx.get(found.group(0), verify=str(youtube.ca_file), follow_redirects=True, timeout=30)
        assert consent.status_code == 200 and "The channel is connected" in consent.text
        out, errors = person.communicate(timeout=60)
    finally:
        person.kill()
    assert person.returncode == 0, errors
    assert f"Connected channel {channel} to YouTube (connection youtube_{channel}; private, public at 18:00" in out

    stored = airflow.get(f"/connections/youtube_{channel}").json()
    assert (stored["login"], stored["conn_type"]) == (youtube.client_id, "generic")
    extra = json.loads(stored["extra"])
    assert (extra["refresh_token"], extra["api_endpoint"]) == ("***", f"{youtube.url}/")  # Airflow masks the grant
    listed = json.loads(videoctl(airflow_site, "channel", "list", "--json").stdout)
    (kit,) = [c for c in listed if c["name"] == channel]
    assert kit["destinations"] == [
        {
            "name": "youtube",
            "kind": "youtube",
            "connection": f"youtube_{channel}",
            "made_for_kids": False,
            "privacy": "private",
            "release_at": "18:00",
            "category_id": "22",
            "playlist_id": "PLharbour",
            "daily_quota": 10000,
        }
    ]

    # refused, each in one line: a token Google no longer honours, a channel that does not exist, no answer
    youtube.revoke("old-token")
    revoked = videoctl(
        airflow_site, "channel", "connect", channel, "--not-made-for-kids", "--refresh-token", "old-token",
        "--client-secrets", str(tmp_path / "client_secret.json"), "--ca-certs", str(youtube.ca_file),
    )  # fmt: skip
    assert revoked.returncode != 0
    assert _one_line_error(revoked) == (
        "youtube: YouTube refused the channel's credentials (invalid_grant): reconnect the channel "
        "(videoctl channel connect)"
    )
    missing = videoctl(airflow_site, "channel", "connect", "nowhere", "--not-made-for-kids", "--refresh-token", "x")
    assert _one_line_error(missing) == "no channel 'nowhere': add it first with videoctl channel set nowhere"
    unanswered = videoctl(airflow_site, "channel", "connect", channel, "--privacy", "secret", "--made-for-kids")
    assert _one_line_error(unanswered).startswith(f"{channel}: invalid YouTube destination: privacy:")


def test_the_scheduler_publishes_each_video_to_its_youtube_channel_and_a_spent_quota_waits_for_the_next_day(
    airflow: httpx.Client, airflow_site: AirflowSite, youtube: YouTubeStandIn, tmp_path: Path
) -> None:
    """The whole way: a channel connected to YouTube (the stand-in) with room for one upload a day; two videos
    submitted for it. The first, once rendered, is published by video_publishing (started by the rendered_videos
    asset event) and shows "live" in videoctl; the second waits in up_for_reschedule with the quota's reason,
    and goes once the quota is raised and its publishing run cleared."""
    channel = f"stack_{secrets.token_hex(3)}"
    assert videoctl(airflow_site, "channel", "set", channel, "--title", "Harbour").returncode == 0

    def connect(quota: int) -> None:
        connected = videoctl(
            airflow_site, "channel", "connect", channel, "--not-made-for-kids", "--privacy", "public",
            "--refresh-token", youtube.refresh_token, "--daily-quota", str(quota),
            "--client-secrets", str(youtube.client_secrets(tmp_path / "client.json")),
            "--api-endpoint", f"{youtube.url}/", "--ca-certs", str(youtube.ca_file),
        )  # fmt: skip
        assert connected.returncode == 0, connected.stderr

    connect(250)  # a video costs 150 units (the upload and its thumbnail): one a day
    # an asset event reaches only the DAGs parsed by then: the stack is fresh
    wait_for(lambda: airflow.get("/dags/video_publishing").status_code == 200, timeout_s=120, what="the DAG parsed")
    requests = [f"yt-{secrets.token_hex(3)}" for _ in range(2)]

    def published(request_id: str) -> list[dict[str, Any]]:
        status = videoctl(airflow_site, "status", request_id, "--json")
        if status.returncode != 0:  # its run not made yet
            return []
        return list(json.loads(status.stdout).get("publications", []))

    def states() -> set[str]:
        return {p["status"] for request_id in requests for p in published(request_id)}

    # one after the other: two events in quick succession may share a run (tests/dags: the outbox's sweep)
    for request_id, expected in zip(requests, ({"live"}, {"live", "pending"}), strict=True):
        submitted = videoctl(
            airflow_site, "submit", "--script", SCRIPT, "--title", f"Harbour {request_id}",
            "--request-id", request_id, "--channel", channel, "--no-ken-burns",
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stderr
        wait_for(lambda e=expected: states() == e, timeout_s=300, what=f"publications {expected}")  # type: ignore[misc]
    live, waiting = sorted((published(r)[0] | {"request": r} for r in requests), key=lambda p: p["status"])
    assert (live["status"], live["destination"], live["kind"]) == ("live", "youtube", "youtube")
    assert youtube.videos[live["external_id"]]["snippet"]["title"] == f"Harbour {live['request']}"
    assert waiting["status"] == "pending" and waiting["external_id"] is None
    assert "YouTube quota for today (250 units) is spent: sending again at " in waiting["error"]
    status = videoctl(airflow_site, "status", live["request"])
    assert f"; published: youtube live ({live['external_id']})" in status.stdout
    table = videoctl(airflow_site, "list", "--limit", "10")
    assert "youtube live" in table.stdout and "youtube pending" in table.stdout

    runs = airflow.get("/dags/video_publishing/dagRuns", params={"order_by": "-run_after", "limit": 20}).json()
    (held,) = [
        ti
        for run in runs["dag_runs"]
        for ti in airflow.get(f"/dags/video_publishing/dagRuns/{run['dag_run_id']}/taskInstances").json()[
            "task_instances"
        ]
        if ti["task_id"] == "send" and ti["state"] == "up_for_reschedule"
    ]  # waiting, not failed: nothing retried, no failure mail

    connect(10_000)  # the channel's quota raised: the operator clears the waiting run
    cleared = airflow.post(
        f"/dags/video_publishing/dagRuns/{held['dag_run_id']}/clear", json={"dry_run": False, "only_failed": False}
    )
    assert cleared.status_code == 200, cleared.text
    wait_for(lambda: states() == {"live"}, timeout_s=180, what="the second video live")
    assert len(youtube.videos) == 2 and len(youtube.sessions) == 2
