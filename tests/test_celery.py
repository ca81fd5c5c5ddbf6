"""The CeleryExecutor for real: the scheduler, API server, dag-processor and two Celery workers (``worker-default``
on the default queue; ``worker-render`` on the render queue first, then the default one) on Redis and PostgreSQL,
started with the command lines ``make demo-celery`` supervises.

Videos complete with their task instances spread over both workers and every render on the render worker; a
worker killed (SIGKILL to its whole process group, as when its machine dies) in the middle of a run has its task
instances failed by the scheduler's heartbeat check and retried on the other worker, and the videos complete with
no duplicate rows or files.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from pipeline.db import connect
from tests.stack_helpers import DAG, ENDED, PLAIN, wait_for
from tools import supervise
from tools.stack import (
    AirflowSite,
    ensure_database,
    free_port,
    prepare_site,
    redis_reachable,
    start_private_redis,
)
from tools.supervise import Stack, running_stack

pytestmark = [pytest.mark.stack, pytest.mark.celery, pytest.mark.fault]
REDIS_DB = 13  # the machine's Redis is shared: this database number is the tests' own, flushed first
SCENE = "The lighthouse keeper climbs the stairs and lights the lamp before the storm arrives tonight."


@dataclass
class CeleryStack:
    stack: Stack
    client: httpx.Client
    engine: Engine

    @property
    def site(self) -> AirflowSite:
        return self.stack.site


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """This machine's Redis (database 13, flushed), else a private ``redis-server`` on a free port."""
    if redis_reachable("127.0.0.1", 6379):
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
        client.flushdb()
        client.close()
        yield f"redis://127.0.0.1:6379/{REDIS_DB}"
        return
    folder = Path(tempfile.mkdtemp(prefix="vf-redis-"))
    port, process = start_private_redis(folder)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=30)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def celery_stack(pg_server: URL, database_prefix: str, redis_url: str) -> Iterator[CeleryStack]:
    """``make demo-celery``'s stack, except that a worker that dies stays dead (the test watches the other)."""
    folder = Path(tempfile.mkdtemp(prefix="vf-celery-"))
    site = AirflowSite(
        home=folder / "airflow",
        airflow_db=ensure_database(pg_server, f"{database_prefix}_celery_airflow"),
        video_db=ensure_database(pg_server, f"{database_prefix}_celery_video"),
        data_dir=folder / "data",
        port=free_port(),
        celery_broker=redis_url,
    )
    saved = dict(os.environ)
    os.environ.update({"VIDEO_RETRIES": "3", "VIDEO_RETRY_DELAY_S": "1", "VIDEO_MAX_RETRY_DELAY_S": "2"})
    prepare_site(site)
    engine = connect(site.video_db)
    api = site.api()
    try:
        with running_stack(site, folder / "logs", restart=False, wait_for_dag=DAG) as stack:
            yield CeleryStack(stack, api.http, engine)
    finally:
        api.close()
        engine.dispose()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(folder, ignore_errors=True)


def _trigger(stack: CeleryStack, label: str, scenes: int) -> str:
    request_id = f"{label}-{secrets.token_hex(3)}"
    script = "\n\n".join(f"{SCENE} Scene {n + 1}." for n in range(scenes))
    conf = {"request_id": request_id, "title": f"Celery {request_id}", "script": script, **PLAIN}
    run_id = f"video__{request_id}"
    response = stack.client.post(
        f"/dags/{DAG}/dagRuns", json={"logical_date": None, "dag_run_id": run_id, "conf": conf}
    )
    assert response.status_code == 200, response.text
    return run_id


def _task_instances(stack: CeleryStack, run_id: str) -> list[dict[str, Any]]:
    answer = stack.client.get(f"/dags/{DAG}/dagRuns/{run_id}/taskInstances", params={"limit": 200}).json()
    return list(answer["task_instances"])


def _task_instance(stack: CeleryStack, ti: dict[str, Any]) -> dict[str, Any]:
    path = f"/dags/{DAG}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/{ti['map_index']}"
    return dict(stack.client.get(path).json())


def _wait_until_ended(stack: CeleryStack, run_ids: list[str], timeout_s: float) -> dict[str, str]:
    def ended() -> dict[str, str] | None:
        states = {r: stack.client.get(f"/dags/{DAG}/dagRuns/{r}").json()["state"] for r in run_ids}
        return states if all(state in ENDED for state in states.values()) else None

    return dict(wait_for(ended, timeout_s=timeout_s, what=f"{len(run_ids)} runs to end", interval_s=5))


def _assert_one_video_each(stack: CeleryStack, run_ids: list[str], scenes: int) -> None:
    """Per request: one project completed, one row per scene, image and narration, one render, published once,
    one MP4 in storage and one image file per scene."""

    def rows(sql: str, run_id: str) -> int:
        with stack.engine.connect() as conn:
            return int(conn.execute(text(sql), {"r": run_id}).scalar_one())

    project = "SELECT id FROM video.projects WHERE dag_run_id = :r"
    for run_id in run_ids:
        request_id = run_id.removeprefix("video__")
        assert rows("SELECT count(*) FROM video.projects WHERE dag_run_id = :r AND status = 'completed'", run_id) == 1
        assert rows(f"SELECT count(*) FROM video.scenes WHERE project_id = ({project})", run_id) == scenes
        for table in ("media_assets", "audio_assets"):
            per_scene = f"SELECT count(*) FROM video.{table} a JOIN video.scenes s ON s.id = a.scene_id "
            assert rows(per_scene + f"WHERE s.project_id = ({project})", run_id) == scenes, table
        assert rows("SELECT count(*) FROM video.rendered_videos WHERE dag_run_id = :r", run_id) == 1
        assert rows("SELECT count(*) FROM video.rendered_videos WHERE dag_run_id = :r AND published", run_id) == 1
        assert len(list((stack.site.data_dir / "storage" / "videos" / request_id).glob("*.mp4"))) == 1


def test_tasks_run_on_both_workers_renders_on_the_render_worker_and_a_killed_worker_s_tasks_run_again(
    celery_stack: CeleryStack,
) -> None:
    """Videos run with their task instances spread over both workers and every render on the render worker, on
    its own queue; worker-default, killed in the middle, has its task instances retried on the other worker, and
    the videos complete once each."""
    stack = celery_stack
    run_ids = [_trigger(stack, f"kill-{n}", scenes=8) for n in range(2)]

    def busy_on_default_worker() -> list[dict[str, Any]]:
        return [
            ti
            for run_id in run_ids
            for ti in _task_instances(stack, run_id)
            if ti["state"] == "running" and ti["hostname"] == "worker-default" and ti["task_id"] in ("media", "voice")
        ]

    victims = wait_for(busy_on_default_worker, timeout_s=600, what="scenes made on worker-default", interval_s=0.5)
    worker = stack.stack.pid("worker-default")
    os.killpg(worker, signal.SIGKILL)  # the worker's whole process group, as when its machine dies
    killed_at, killed_utc = time.monotonic(), datetime.now(UTC)
    wait_for(lambda: not Path(f"/proc/{worker}").exists() or _zombie(worker), timeout_s=30, what="the worker to die")
    # a task that reported success in the instant before the kill is not orphaned; the others are
    victims = [v for v in victims if _task_instance(stack, v)["state"] == "running"]
    assert victims, "every task on worker-default ended in the instant before the kill"
    print("killed worker-default while it ran:", [(ti["task_id"], ti["map_index"]) for ti in victims])

    def retried_elsewhere() -> bool:
        for victim in victims:
            ti = _task_instance(stack, victim)
            if ti["try_number"] <= victim["try_number"] or ti["state"] not in ("running", "success"):
                return False
        return True

    wait_for(retried_elsewhere, timeout_s=300, what="the killed worker's tasks to run again", interval_s=1)
    print(f"the killed worker's task instances ran again after {time.monotonic() - killed_at:.0f} s")
    states = _wait_until_ended(stack, run_ids, timeout_s=900)
    print(f"both videos ended {time.monotonic() - killed_at:.0f} s after the kill")
    assert set(states.values()) == {"success"}, states
    for victim in victims:
        ti = _task_instance(stack, victim)
        assert ti["hostname"] == "worker-render", ti
        assert ti["try_number"] > victim["try_number"]
    _assert_one_video_each(stack, run_ids, scenes=8)
    task_instances = [ti for run_id in run_ids for ti in _task_instances(stack, run_id)]
    # where each task instance ran last, and the tries worker-default was running when it died
    hosts = {ti["hostname"] for ti in task_instances} | {victim["hostname"] for victim in victims}
    print("task instances per worker:", {h: sum(ti["hostname"] == h for ti in task_instances) for h in hosts})
    assert hosts == set(supervise.CELERY_WORKERS), hosts
    renders = [ti for ti in task_instances if ti["task_id"] == "render"]
    assert len(renders) == len(run_ids)
    assert {(ti["queue"], ti["hostname"]) for ti in renders} == {("render", "worker-render")}
    assert {ti["queue"] for ti in task_instances if ti["task_id"] != "render"} == {"default"}
    # the other worker ran everything that started after the kill, the tasks the dead one had received included
    after = [
        ti
        for run_id in run_ids
        for ti in _task_instances(stack, run_id)
        if datetime.fromisoformat(ti["start_date"]) > killed_utc
    ]
    assert {ti["task_id"] for ti in after} >= {"render", "publish"}
    assert {ti["hostname"] for ti in after} == {"worker-render"}


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
