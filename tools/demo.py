"""``make demo`` / ``make stop``: run the whole factory locally and turn the sample script into a video.

``python -m tools.demo run`` starts (or reuses) an embedded PostgreSQL and Airflow's components under supervisord
(``tools.supervise``: a component that exits is restarted) in ``.local/``, checks that every component is healthy,
submits the sample request through Airflow's REST API, follows the run and prints the result.
``python -m tools.demo stop`` stops what ``run`` started. Set ``VIDEO_DEMO_PG_URL`` (a server URL such as
``postgresql+psycopg2://postgres@127.0.0.1:5432/postgres``) to use an existing PostgreSQL instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from interface.airflow_api import Airflow, ApiProblem
from pipeline.constants import DagId
from pipeline.request import run_id_for
from tools import supervise
from tools.stack import (
    AIRFLOW_USER,
    LOCAL_DIR,
    PROJECT_ROOT,
    VIEWER_USER,
    AirflowSite,
    SiteError,
    ensure_database,
    prepare_site,
    redis_reachable,
    server_reachable,
    start_embedded_postgres,
    start_private_redis,
    stop_embedded_postgres,
)
from tools.supervise import component_health

DAG_ID = DagId.VIDEO.value
PGDATA = LOCAL_DIR / "pg" / "data"
PID_FILE = LOCAL_DIR / "airflow" / "stack.pid"
LOG_FILE = LOCAL_DIR / "airflow" / "supervisord.out"
COMPONENT_LOGS = LOCAL_DIR / "airflow" / "components"
MODE_FILE = LOCAL_DIR / "airflow" / "stack.mode"
REDIS_DIR = LOCAL_DIR / "redis"
REDIS_PID = REDIS_DIR / "redis.pid"
# make demo-celery: the machine's Redis (a database number of the demo's own), else a private redis-server
DEMO_REDIS_DB = 5
SAMPLE = PROJECT_ROOT / "samples" / "sample_request.json"
STAGES = ("register", "script", "review", "translate", "media", "voice", "render", "publish")
console = Console(soft_wrap=True)  # paths and URLs stay on one line, copyable


class DemoError(RuntimeError):
    """Something the person running the demo has to fix; the message says what."""


def database_server() -> URL:
    configured = os.environ.get("VIDEO_DEMO_PG_URL")
    if configured:
        url = make_url(configured)
        if not server_reachable(url):
            raise DemoError(f"VIDEO_DEMO_PG_URL={configured} is not reachable")
        return url
    with console.status("Starting the embedded PostgreSQL in .local/pg ..."):
        return start_embedded_postgres(PGDATA)


def site(port: int, *, celery: bool = False) -> AirflowSite:
    server = database_server()
    return AirflowSite(
        home=LOCAL_DIR / "airflow",
        airflow_db=ensure_database(server, "airflow"),
        video_db=ensure_database(server, "video_factory"),
        data_dir=LOCAL_DIR / "data",
        port=port,
        celery_broker=celery_broker() if celery else "",
    )


def celery_broker() -> str:
    """The Redis the demo's Celery workers use: 127.0.0.1:6379 when one answers, else a private redis-server."""
    if redis_reachable("127.0.0.1", 6379):
        return f"redis://127.0.0.1:6379/{DEMO_REDIS_DB}"
    if REDIS_PID.is_file():
        port = int(REDIS_PID.read_text().split()[1])
        if redis_reachable("127.0.0.1", port):
            return f"redis://127.0.0.1:{port}/0"
    with console.status("Starting a private redis-server in .local/redis ..."):
        port, process = start_private_redis(REDIS_DIR)
    REDIS_PID.write_text(f"{process.pid} {port}")
    return f"redis://127.0.0.1:{port}/0"


def stack_pid() -> int | None:
    if not PID_FILE.is_file():
        return None
    pid = int(PID_FILE.read_text().strip())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        PID_FILE.unlink()
        return None
    return pid


def start_airflow(site: AirflowSite, *, celery_workers: int = 2) -> None:
    """Migrate both schemas and start the supervised components in the background, unless ours are running;
    either way, wait until the API server reports every component healthy."""
    mode = f"celery-{celery_workers}" if site.celery_broker else "local"
    pid = stack_pid()
    if pid is not None:
        running = MODE_FILE.read_text().strip() if MODE_FILE.is_file() else "local"
        if running != mode:
            raise DemoError(f"the running stack is {running!r}, not {mode!r}: run make stop first")
        stack = supervise.Stack(site, COMPONENT_LOGS)
        with console.status(f"Checking the running Airflow (pid {pid}) ..."):
            stack.wait_healthy(timeout_s=180)
        console.print(f"[green]Reusing the running Airflow[/] at {site.api_url} (pid {pid})")
        return
    if component_health(site.api_url):
        raise DemoError(f"another server already answers on port {site.port}: stop it or pass --port")
    with console.status("Migrating Airflow's and the project's schemas, creating the pools ..."):
        prepare_site(site)
    stack = supervise.Stack.start(site, COMPONENT_LOGS, celery_workers=celery_workers)
    assert stack.process is not None
    PID_FILE.write_text(str(stack.process.pid))
    MODE_FILE.write_text(mode)
    with console.status(f"Starting Airflow (logs: {COMPONENT_LOGS.relative_to(PROJECT_ROOT)}/) ..."):
        stack.wait_healthy(timeout_s=180)
    names = ", ".join(list(supervise.CELERY_WORKERS)[-celery_workers:])
    workers = f"; Celery workers {names} on {site.celery_broker}" if site.celery_broker else ""
    console.print(f"[green]Airflow is up[/] at {site.api_url}: " + ", ".join(supervise.HEALTH_NAMES.values()) + workers)


def sample_music(site: AirflowSite) -> None:
    """The music track samples/batch.csv names, made by ffmpeg and added to the library once (with its licence),
    so that the sample batch runs end to end."""
    from pipeline.config import load_settings
    from pipeline.db import connect, upgrade
    from pipeline.music import SAMPLE_LICENCE, SAMPLE_TRACK, add_track, make_sample_track, track_names
    from pipeline.storage import open_storage

    upgrade(site.video_db.render_as_string(hide_password=False))  # a running stack of an older version, too
    engine = connect(site.video_db)
    try:
        if SAMPLE_TRACK in track_names(engine):
            return
        track = make_sample_track(site.data_dir / "work" / SAMPLE_TRACK)
        add_track(
            engine, open_storage(load_settings()), track, name=SAMPLE_TRACK, licence=SAMPLE_LICENCE, added_by="demo"
        )
        console.print(f"Added the sample music track {SAMPLE_TRACK} to the library ({SAMPLE_LICENCE})")
    finally:
        engine.dispose()


def sample_footage(site: AirflowSite) -> None:
    """Moving clips ffmpeg makes from nothing (sea, sky, city, forest), added to the media library once, so the
    sample request (media_sources: library) shows motion offline."""
    from pipeline.config import load_settings
    from pipeline.db import connect
    from pipeline.library import SAMPLE_FOOTAGE, SAMPLE_LICENCE, add_item, list_items, make_sample_footage
    from pipeline.storage import open_storage

    engine = connect(site.video_db)
    try:
        if set(SAMPLE_FOOTAGE) <= {item.name for item in list_items(engine)}:
            return
        with console.status("Making the sample footage for the media library ..."):
            storage = open_storage(load_settings())
            for path, tags in make_sample_footage(site.data_dir / "work" / "footage", width=1280, height=720):
                add_item(engine, storage, path, name=path.name, tags=tags, licence=SAMPLE_LICENCE, added_by="demo")
        console.print(f"Added {len(SAMPLE_FOOTAGE)} sample clips to the media library ({SAMPLE_LICENCE})")
    finally:
        engine.dispose()


def submit(api: Airflow, sample: Path) -> tuple[str, str]:
    """Trigger one run for the sample; returns (request id, run id)."""
    with console.status("Waiting for the DAG to be parsed ..."):
        try:
            api.wait_for_dag(DAG_ID, timeout_s=180)
        except ApiProblem:
            raise DemoError(f"the DAG {DAG_ID} did not appear; see {COMPONENT_LOGS / 'dag-processor.log'}") from None
    client = api.http
    client.patch(f"/dags/{DAG_ID}", json={"is_paused": False}).raise_for_status()
    conf = json.loads(sample.read_text(encoding="utf-8"))
    stem = re.sub(r"[^a-z0-9]+", "-", sample.stem.lower()).strip("-")
    request_id = f"{stem}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    run_id = run_id_for(request_id)
    response = client.post(
        f"/dags/{DAG_ID}/dagRuns",
        json={
            "logical_date": None,
            "dag_run_id": run_id,
            "conf": {**conf, "request_id": request_id},
        },
    )
    if response.status_code != 200:
        raise DemoError(f"Airflow refused the request ({response.status_code}): {response.text}")
    console.print(f"Submitted [bold]{conf['title']}[/] as run [cyan]{run_id}[/]")
    return request_id, run_id


def follow(client: httpx.Client, run_id: str, timeout_s: float = 1800) -> tuple[str, list[dict[str, Any]]]:
    """Show scenes imaged and voiced and the task running now, until the run ends."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        overall = progress.add_task("waiting for the scheduler", total=len(STAGES))
        bars: dict[str, Any] = {}
        deadline = time.monotonic() + timeout_s
        while True:
            state = client.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]
            tis = client.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}).json()[
                "task_instances"
            ]
            for name, label in (("media", "scenes imaged"), ("voice", "scenes voiced")):
                mapped = [ti for ti in tis if ti["task_id"] == name and ti["map_index"] >= 0]
                if mapped and name not in bars:
                    bars[name] = progress.add_task(label, total=len(mapped))
                if name in bars:
                    progress.update(bars[name], completed=sum(ti["state"] == "success" for ti in mapped))
            running = sorted({ti["task_id"] for ti in tis if ti["state"] in ("running", "queued", "up_for_retry")})
            done = {ti["task_id"] for ti in tis if ti["state"] == "success"} - set(running)
            progress.update(
                overall, completed=len(done & set(STAGES)), description=f"stages ({', '.join(running) or state})"
            )
            if state in ("success", "failed"):
                return state, tis
            if time.monotonic() > deadline:
                raise DemoError(f"the run did not finish within {timeout_s:.0f}s")
            time.sleep(2)


def report(stack: AirflowSite, request_id: str, run_id: str, state: str, tis: list[dict[str, Any]]) -> int:
    from pipeline.db import VideoRepository, connect
    from pipeline.render.probe import probe_output

    engine = connect(stack.video_db)
    summary = VideoRepository(engine).project_summary(request_id)
    ui = f"{stack.api_url}/dags/{DAG_ID}/runs/{run_id}"
    login = f"{AIRFLOW_USER} / {stack.password()}"
    if state != "success" or summary is None or summary.video is None:
        failed = [ti["task_id"] for ti in tis if ti["state"] == "failed"]
        console.print(f"[red]The run failed[/] (tasks: {', '.join(failed) or '?'}).")
        if summary and summary.error:
            console.print(f"Reason: {summary.error}")
        console.print(f"Airflow UI: {ui}  (login {login})")
        return 1
    video = stack.data_dir / "storage" / summary.video["video_key"]
    facts = probe_output(video)
    with engine.connect() as conn:
        cached, total = conn.execute(
            text("SELECT count(*) FILTER (WHERE cached), count(*) FROM video.provider_calls WHERE dag_run_id = :r"),
            {"r": run_id},
        ).one()
    engine.dispose()
    console.rule("[green]Video ready")
    console.print(f"MP4:        {video}")
    console.print(f"Subtitles:  {video.with_suffix('.srt')}")
    console.print(f"Duration:   {facts.duration_s:.2f} s   Resolution: {facts.width}x{facts.height}")
    console.print(f"Streams:    {facts.video_codec} video, {facts.audio_codec} audio, faststart={facts.faststart}")
    console.print(f"Scenes:     {summary.scene_count}   Assets from cache: {cached} of {total}")
    if stack.celery_broker:
        hosts = Counter(ti.get("hostname") or "?" for ti in tis)
        render_host = next((ti.get("hostname") for ti in tis if ti["task_id"] == "render"), "?")
        console.print(
            f"Workers:    {', '.join(f'{h} ({n} tasks)' for h, n in sorted(hosts.items()))}; render on {render_host}"
        )
    console.print(f"Email:      {stack.data_dir / 'outbox'}")
    console.print(f"Costs:      {Path(sys.executable).parent / 'videoctl'} costs")
    console.print(f"Follow-up:  videoctl status {request_id} · videoctl list · videoctl import samples/batch.csv")
    console.print(f"Airflow UI: {ui}")
    console.print(f"Videos:     {stack.api_url}/plugin/videos/video-factory/videos#video={request_id}")
    console.print(f"Login:      {login}   (read-only: {VIEWER_USER} / {stack.password(VIEWER_USER)})")
    console.print("Stop everything with: make stop")
    return 0


def stop() -> None:
    pid = stack_pid()
    if pid is not None:
        console.print(f"Stopping Airflow's components (supervisord, pid {pid}) ...")
        os.kill(pid, signal.SIGTERM)  # supervisord stops each component's process group, then exits
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and stack_pid() is not None:
            time.sleep(0.5)
        if stack_pid() is not None:
            os.killpg(pid, signal.SIGKILL)
        PID_FILE.unlink(missing_ok=True)
    else:
        console.print("Airflow is not running.")
    MODE_FILE.unlink(missing_ok=True)
    if REDIS_PID.is_file():
        pid = int(REDIS_PID.read_text().split()[0])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            console.print("Stopped the private redis-server.")
        REDIS_PID.unlink()
    if stop_embedded_postgres(PGDATA):
        console.print("Stopped the embedded PostgreSQL.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "stop"])
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="request JSON to submit")
    parser.add_argument("--port", type=int, default=int(os.environ.get("VIDEO_DEMO_PORT", "8080")))
    parser.add_argument("--celery", action="store_true", help="CeleryExecutor with two workers (make demo-celery)")
    args = parser.parse_args(argv)
    try:
        if args.command == "stop":
            stop()
            return 0
        stack = site(args.port, celery=args.celery)
        os.environ.update(stack.environment())
        start_airflow(stack)
        sample_music(stack)
        sample_footage(stack)
        api = stack.api()
        try:
            request_id, run_id = submit(api, args.sample)
            state, tis = follow(api.http, run_id)
        except ApiProblem as problem:
            raise DemoError(problem.message) from None
        finally:
            api.close()
        return report(stack, request_id, run_id, state, tis)
    except (DemoError, SiteError) as exc:
        console.print(f"[red]{exc}[/]")
        return 1


if __name__ == "__main__":
    sys.exit(main())
