"""A real Airflow (API server, scheduler, dag-processor) triggered over its REST API, as content ops would."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tools.stack import AIRFLOW_USER, AirflowSite

pytestmark = pytest.mark.slow
DAG = "video_production"


def _wait_for(check: Callable[[], Any], *, timeout_s: float, what: str, interval_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except httpx.TransportError:
            value = None
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"gave up waiting for {what} after {timeout_s:.0f}s")


@pytest.fixture(scope="module")
def airflow(airflow_site: AirflowSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """The three Airflow processes a trigger needs, and an authenticated client of the REST API."""
    logs = tmp_path_factory.mktemp("airflow-logs")
    env = {**os.environ, **airflow_site.environment()}
    processes = []
    for component in ("api-server", "scheduler", "dag-processor"):
        log = (logs / f"{component}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "airflow", component],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        base = airflow_site.api_url
        _wait_for(
            lambda: httpx.get(f"{base}/api/v2/monitor/health", timeout=5).status_code == 200,
            timeout_s=120,
            what="the API server",
        )
        token = httpx.post(
            f"{base}/auth/token",
            json={"username": AIRFLOW_USER, "password": airflow_site.password()},
            timeout=10,
        )
        assert token.status_code == 201, token.text
        client = httpx.Client(
            base_url=f"{base}/api/v2",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=30,
        )
        _wait_for(lambda: client.get(f"/dags/{DAG}").status_code == 200, timeout_s=120, what="the DAG to be parsed")
        yield client
        client.close()
    except BaseException:
        _dump_logs(logs)
        raise
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _dump_logs(folder: Path) -> None:
    for log in sorted(folder.glob("*.log")):
        print(f"===== {log.name} =====\n{log.read_text(errors='replace')[-4000:]}")


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
            "note": "submitted by the test suite",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "queued"

    def finished() -> str | None:
        state = airflow.get(f"/dags/{DAG}/dagRuns/video__{request_id}").json()["state"]
        return state if state in ("success", "failed") else None

    state = _wait_for(finished, timeout_s=300, what="the run to finish", interval_s=2)
    if state != "success":
        _dump_logs(airflow_site.home / "logs")
    assert state == "success"

    mapped = airflow.get(f"/dags/{DAG}/dagRuns/video__{request_id}/taskInstances/voice/listMapped").json()
    labels = sorted(ti["rendered_map_index"] for ti in mapped["task_instances"])
    assert len(labels) == 3 and labels[0].startswith("scene 1: ")
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
