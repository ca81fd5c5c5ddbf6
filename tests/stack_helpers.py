"""Helpers of the tests against a running Airflow (the ``airflow_stack`` fixture, or a stack of a test's own):
waiting for evidence, and where the browser tests' Chromium and screenshots are."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from pipeline.constants import DagId

DAG = DagId.VIDEO.value
ENDED = ("success", "failed")
# as the machine's probe starts it: no background connections (this machine reaches no other host)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
SCREENSHOTS = Path(os.environ.get("VIDEO_TEST_SCREENSHOTS", "/tmp/video-factory-screenshots"))
# the stack videos that do not test the render are made plain (one default-look video runs end to end)
PLAIN = {"ken_burns": False, "crossfade_s": 0, "burn_subtitles": False}


def wait_for(check: Callable[[], Any], *, timeout_s: float, what: str, interval_s: float = 1.0) -> Any:
    """``check()``'s first true value, asked every ``interval_s`` (a refused connection counts as not yet)."""
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


def run_state(airflow: httpx.Client, run_id: str, dag_id: str = DAG) -> str | None:
    """The run's state once it has ended, else None: ``wait_for(lambda: run_state(api, run), ...)``."""
    state = airflow.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
    return str(state) if state in ENDED else None


def logs_text(folder: Path) -> str:
    """Every log under ``folder`` (the dag-processor's, where DAG callbacks log; task logs; component logs)."""
    texts = []
    for path in sorted(folder.rglob("*.log")):
        try:
            texts.append(path.read_text(errors="replace"))
        except OSError:
            continue
    return "\n".join(texts)


def callback_logs(site_home: Path) -> Path:
    """Where the dag-processor writes what DAG callbacks (the outcome emails) log."""
    return site_home / "logs" / "dag_processor"


def videos_in_airflow(page: Any, api_url: str, *, request_key: str | None = None) -> Any:
    """The Videos page the way an operator reaches it: Airflow's UI, Plugins → Videos, inside Airflow's sandboxed
    frame. With ``request_key``, that video is looked up by its title's words and opened. Returns the frame."""
    page.goto(f"{api_url}/")
    page.get_by_role("button", name="Plugins").click()
    page.get_by_role("menuitem", name="Videos").click()
    page.locator("iframe[title=Videos]").wait_for()  # Airflow's router shows it: a history entry, no page load
    frame = page.frame_locator("iframe[title=Videos]")
    if request_key is not None:
        frame.get_by_role("searchbox").fill(request_key)
        frame.get_by_role("button", name="Show").click()
        frame.locator('#list[aria-busy="false"]').wait_for()  # the search's answer, not the first load's
        frame.locator(f'tr.video[data-key="{request_key}"] td').first.click()  # its title
        # its detail: two API calls on a stack that may be busy with other runs (evidence, with room for load)
        frame.locator("#d-title", has_text=request_key).wait_for(timeout=120_000)
    return frame
