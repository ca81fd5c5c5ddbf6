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
