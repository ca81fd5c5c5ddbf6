"""A PostgreSQL outage against the supervised embedded stack (``tools.supervise``, what ``make demo``
runs): the components that exit are restarted, the health endpoint turns healthy again, and every running video
ends (made, or failed with its email); none is left ``processing``."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from pipeline.db import connect
from tests.stack_helpers import DAG, PLAIN, wait_for
from tools import supervise
from tools.stack import (
    PROJECT_ROOT,
    AirflowSite,
    ensure_database,
    free_port,
    prepare_site,
    stop_embedded_postgres,
)
from tools.supervise import Stack, running_stack

pytestmark = [pytest.mark.stack, pytest.mark.fault]


def _start_postgres(pgdata: Path) -> URL:
    """The embedded server, started by a process of its own (it keeps running when that process ends)."""
    code = (
        "import sys; from pathlib import Path; from tools.stack import start_embedded_postgres; "
        "print(start_embedded_postgres(Path(sys.argv[1])).render_as_string(hide_password=False))"
    )
    started = subprocess.run(
        [sys.executable, "-c", code, str(pgdata)], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    return make_url(started.stdout.strip().splitlines()[-1])


@pytest.fixture
def supervised_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stack, Path, httpx.Client]]:
    """A private PostgreSQL (so the test may stop it) and the demo's supervised Airflow on it."""
    folder = Path(tempfile.mkdtemp(prefix="vf-outage-"))  # short: the server's socket lives in it
    pgdata = folder / "pg"
    server = _start_postgres(pgdata)
    site = AirflowSite(
        home=folder / "airflow",
        airflow_db=ensure_database(server, "airflow"),
        video_db=ensure_database(server, "video"),
        data_dir=folder / "data",
        port=free_port(),
    )
    monkeypatch.setenv("VIDEO_RETRIES", "4")  # a task that meets the outage has tries left after it
    prepare_site(site)  # as `make demo` prepares a site: both schemas, and the pools the video tasks run in
    api = site.api()
    try:
        with running_stack(site, folder / "components", wait_for_dag=DAG) as stack:
            yield stack, pgdata, api.http
    finally:
        api.close()
        stop_embedded_postgres(pgdata)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_postgresql_outage_ends_every_running_video(supervised_stack: tuple[Stack, Path, httpx.Client]) -> None:
    stack, pgdata, client = supervised_stack
    site = stack.site
    scene = "The lighthouse keeper climbs the stairs and lights the lamp before the storm arrives tonight. "
    requests = {}
    for number in range(2):
        request_id = f"outage-{number}-{secrets.token_hex(3)}"
        conf = {
            "request_id": request_id,
            "title": f"Outage {request_id}",
            "script": "\n\n".join([scene * 2] * 3),
            **PLAIN,
        }
        body = {"logical_date": None, "dag_run_id": f"video__{request_id}", "conf": conf}
        assert client.post(f"/dags/{DAG}/dagRuns", json=body).status_code == 200
        requests[request_id] = conf["title"]

    def busy() -> bool:  # both runs are past register, with tasks running
        runs = [client.get(f"/dags/{DAG}/dagRuns/video__{r}/taskInstances").json() for r in requests]
        return all(
            any(ti["task_id"] != "register" and ti["state"] == "running" for ti in run["task_instances"])
            for run in runs
        )

    wait_for(busy, timeout_s=300, what="both videos to be under way", interval_s=0.5)
    assert stop_embedded_postgres(pgdata)
    down_at = time.monotonic()
    # the outage lasts until the scheduler has exited twice (evidence, not a fixed minute): supervisord restarted it
    # without the database and the restart failed too, so the database comes back under a component in back-off
    try:
        wait_for(
            lambda: stack.exits("scheduler") >= 2, timeout_s=300, what="the scheduler to exit twice", interval_s=0.5
        )
    except TimeoutError:  # (seen once under the full suite's load, not alone): what the components said meanwhile
        supervise.print_logs(stack.folder, chars=12_000)
        raise
    outage_s = time.monotonic() - down_at
    _start_postgres(pgdata)
    up_at = time.monotonic()
    wait_for(lambda: not supervise.unhealthy(site.api_url), timeout_s=300, what="the stack to recover")
    recovered_s = time.monotonic() - up_at
    restarts = stack.restarts()

    def ended() -> dict[str, dict[str, Any]] | None:
        try:
            runs = {r: client.get(f"/dags/{DAG}/dagRuns/video__{r}").json() for r in requests}
        except httpx.TransportError:
            return None
        return runs if all(run.get("state") in ("success", "failed") for run in runs.values()) else None

    runs = wait_for(ended, timeout_s=900, what="both videos to end", interval_s=3)
    ended_s = time.monotonic() - up_at
    print(
        f"PostgreSQL down {outage_s:.0f} s; healthy {recovered_s:.0f} s after it came back ({restarts} restarts); "
        f"videos ended {ended_s:.0f} s after: {[run['state'] for run in runs.values()]}"
    )
    engine = connect(site.video_db)
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(
                text(
                    "SELECT r.request_key, p.status FROM video.projects p JOIN video.requests r ON r.id = p.request_id"
                )
            ).all()
        )
    engine.dispose()
    assert restarts >= 1  # the outage did stop components, and supervisord brought them back
    for request_id, title in requests.items():
        assert statuses[request_id] == ("completed" if runs[request_id]["state"] == "success" else "failed")
        mails = wait_for(
            lambda t=title: [p for p in (site.data_dir / "outbox").glob("*.eml") if t in p.read_text(errors="replace")],
            timeout_s=120,
            what=f"the email of {request_id}",
        )
        assert len(mails) == 1
