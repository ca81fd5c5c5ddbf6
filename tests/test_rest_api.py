"""A real Airflow (API server, scheduler, dag-processor) triggered over its REST API, as content ops would."""

from __future__ import annotations

import email
import email.policy
import re
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pipeline.markdown import plain
from tests.stack_helpers import DAG, callback_logs, logs_text, run_state, wait_for
from tools.stack import AirflowSite
from tools.supervise import print_logs


def test_trigger_over_rest_runs_to_success(
    airflow: httpx.Client, count_rows: Callable[..., int], airflow_site: AirflowSite
) -> None:
    request_id = f"rest-{secrets.token_hex(4)}"
    response = airflow.post(
        f"/dags/{DAG}/dagRuns",
        json={
            "logical_date": None,
            "dag_run_id": f"video__{request_id}",
            "conf": {
                "request_id": request_id,
                "title": "Over the API",
                "script": "Scenes arrive over REST.\n\nThe scheduler runs them.\n\nThe video is ready.",
                "aspect": "1:1",
            },
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "queued"

    run_id = f"video__{request_id}"
    state = wait_for(lambda: run_state(airflow, run_id), timeout_s=300, what="the run to finish", interval_s=2)
    if state != "success":
        print_logs(airflow_site.home / "logs")
    assert state == "success"

    assert airflow.get(f"/dags/{DAG}/dagRuns/video__{request_id}").json()["note"] == "Over the API"  # the title
    mapped = airflow.get(f"/dags/{DAG}/dagRuns/video__{request_id}/taskInstances/voice/listMapped").json()
    labels = sorted(ti["rendered_map_index"] for ti in mapped["task_instances"])
    assert len(labels) == 3 and labels[0].startswith("scene 1: ")
    log = airflow.get(
        f"/dags/{DAG}/dagRuns/video__{request_id}/taskInstances/media/logs/1",
        params={"map_index": 0, "full_content": True},
        headers={"Accept": "application/x-ndjson"},
    )
    assert log.status_code == 200, log.text
    assert re.search(r"scene 1: procedural \(titlecard-v3\), cache (hit|miss), [01] images, \d+\.\d\d s", log.text)
    assert count_rows("projects", "status = 'completed' AND dag_run_id = :r", r=f"video__{request_id}") == 1
    assert (
        count_rows(
            "scenes", "project_id = (SELECT id FROM video.projects WHERE dag_run_id = :r)", r=f"video__{request_id}"
        )
        == 3
    )


@pytest.mark.parametrize(
    ("conf", "reason"),
    [
        ({"title": "x" * 201, "script": "Hi."}, "title"),
        ({"title": "Square", "script": "Hi.", "aspect": "4:3"}, "aspect"),
        ({"title": "Emails", "script": "Hi.", "notify_emails": ["nobody"]}, "notify_emails"),
    ],
)
def test_conf_violating_the_schema_is_refused_with_400_and_leaves_no_rows(
    airflow: httpx.Client, count_rows: Callable[..., int], conf: dict[str, Any], reason: str
) -> None:
    request_id = f"bad-{secrets.token_hex(4)}"
    response = airflow.post(
        f"/dags/{DAG}/dagRuns",
        json={"logical_date": None, "dag_run_id": f"video__{request_id}", "conf": {**conf, "request_id": request_id}},
    )
    assert response.status_code == 400, response.text
    assert reason in response.text
    assert airflow.get(f"/dags/{DAG}/dagRuns/video__{request_id}").status_code == 404
    assert count_rows("requests", "request_key = :k", k=request_id) == 0


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({"title": "Long", "script": "x" * 30_000}, "script: at most 20,000 characters (got 30,000)"),
        (
            {"title": "Many", "script": "Hi.", "notify_emails": [f"{'a' * 200}{i}@example.com" for i in range(40)]},
            "notify_emails: at most 20 items (got 40)",
        ),
        ({"script": "Hi."}, "title: required"),
        ({"title": "Fade", "script": "Hi.", "crossfade_s": 5}, "crossfade_s: must be less than or equal to 2 (got 5)"),
        ({"title": "Nul", "script": "a\u0000b"}, "script: must not contain NUL characters"),
        ({"title": "Two\nlines", "script": "Hi."}, "title: must be some text on one line, without control characters"),
        (
            {"title": "Brand", "script": "Hi.", "channel": "no-such-channel"},
            "channel: there is no channel 'no-such-channel': choose one of videoctl channel list",
        ),
        ({"title": "Lang", "script": "Hi.", "translations": ["de", "de"]}, "translations: name each language once"),
        ({"title": "Lang", "script": "Hi.", "translations": ["German"]}, "a language code such as de, fr or pt-BR"),
    ],
)
def test_a_schema_error_is_one_short_line_naming_the_field_and_the_limit(
    airflow: httpx.Client, conf: dict[str, Any], expected: str
) -> None:
    response = airflow.post(f"/dags/{DAG}/dagRuns", json={"logical_date": None, "conf": conf})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert expected in detail
    assert "\n" not in detail and len(detail) < 300, detail


def _outbox(site: AirflowSite, title: str) -> list[str]:
    """The plain-text bodies of the emails about ``title`` (decoded: a long line is folded on the wire)."""
    bodies = []
    for path in sorted((site.data_dir / "outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        if title in body or title in str(message["Subject"]):
            bodies.append(body)
    return bodies


def test_a_request_refused_at_register_says_why_in_one_line_once(
    airflow: httpx.Client, airflow_site: AirflowSite, video_engine: Any
) -> None:
    """A request the model accepts but register refuses (its music is not in storage): the reason reaches the
    project, the run's note and one email. Clearing the failed task fails it again the same way and mails nobody
    again."""
    from sqlalchemy import text

    request_id = f"unknown-{secrets.token_hex(4)}"
    run_id = f"video__{request_id}"
    title = f"Tuneful {request_id}"
    conf = {"request_id": request_id, "title": title, "script": "Hi.", "music": "nowhere.wav"}
    response = airflow.post(f"/dags/{DAG}/dagRuns", json={"logical_date": None, "dag_run_id": run_id, "conf": conf})
    assert response.status_code == 200, response.text
    reason = "there is no music track 'nowhere.wav' in the music folder (storage key music/nowhere.wav)"

    def failed_with_note() -> dict[str, Any] | None:
        run = airflow.get(f"/dags/{DAG}/dagRuns/{run_id}").json()
        return run if run["state"] == "failed" and run.get("note") and _outbox(airflow_site, title) else None

    run = wait_for(failed_with_note, timeout_s=180, what="the refused run, its note and its email", interval_s=2)
    note = plain(run["note"])  # Airflow renders notes as Markdown: ours are escaped, to show as written
    assert note.startswith(f"{title} — failed at register: request '{request_id}' cannot be made: {reason}"), note
    with video_engine.connect() as conn:
        error, task = conn.execute(
            text(
                "SELECT p.error, p.failed_task FROM video.projects p JOIN video.requests r ON r.id = p.request_id"
                " WHERE r.request_key = :k"
            ),
            {"k": request_id},
        ).one()
    assert reason in error and "\n" not in error and task == "register"
    (mail,) = _outbox(airflow_site, title)
    assert reason in mail

    cleared = airflow.post(
        f"/dags/{DAG}/clearTaskInstances",
        json={"dry_run": False, "dag_run_id": run_id, "task_ids": ["register"], "only_failed": True},
    )
    assert cleared.status_code == 200, cleared.text
    wait_for(
        lambda: (
            airflow.get(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/register").json()["try_number"] >= 2
            and airflow.get(f"/dags/{DAG}/dagRuns/{run_id}").json()["state"] == "failed"
        ),
        timeout_s=180,
        what="the cleared task to fail again",
        interval_s=2,
    )

    # the DAG's failure callback runs in the dag-processor seconds after the state change: once it has logged
    # that this email went out already, it has run and sent nothing
    wait_for(
        lambda: f"The failure email of run {run_id} went out already" in logs_text(callback_logs(airflow_site.home)),
        timeout_s=180,
        what="the second failure callback",
        interval_s=2,
    )
    assert len(_outbox(airflow_site, title)) == 1
