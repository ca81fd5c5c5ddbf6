"""The Airflow processes a trigger needs (API server, scheduler, dag-processor, triggerer for deadline alerts),
for the REST, CLI and browser tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tools.stack import AIRFLOW_USER, AirflowSite

DAG = "video_production"


def wait_for(check: Callable[[], Any], *, timeout_s: float, what: str, interval_s: float = 1.0) -> Any:
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


@contextmanager
def running_airflow(airflow_site: AirflowSite, logs: Path) -> Iterator[httpx.Client]:
    """The Airflow processes a trigger needs, and an authenticated client of the REST API."""
    env = {**os.environ, **airflow_site.environment()}
    processes = []
    for component in (["api-server"], ["scheduler"], ["dag-processor"], ["triggerer", "--skip-serve-logs"]):
        log = (logs / f"{component[0]}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "airflow", *component],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        base = airflow_site.api_url
        wait_for(
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
        wait_for(lambda: client.get(f"/dags/{DAG}").status_code == 200, timeout_s=120, what="the DAG to be parsed")
        yield client
        client.close()
    except BaseException:
        dump_logs(logs)
        raise
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def dump_logs(folder: Path) -> None:
    for log in sorted(folder.glob("*.log")):
        print(f"===== {log.name} =====\n{log.read_text(errors='replace')[-4000:]}")
