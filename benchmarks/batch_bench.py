"""A night's batch end to end: N requests x M scenes through ``nightly_batch`` on the embedded default (LocalExecutor,
offline providers), and where the wall time goes.

Run by hand from the repository root, with the demo stack up (``make demo`` starts it; it is reused):

    .venv/bin/python benchmarks/batch_bench.py                    # 20 requests x 6 scenes
    .venv/bin/python benchmarks/batch_bench.py --requests 5 --scenes 3 --json
    .venv/bin/python benchmarks/batch_bench.py --requests 6 --celery-workers 2   # make stop between executors

``--celery-workers 1|2`` starts the stack on the CeleryExecutor (``make demo-celery``'s, with one worker serving
both queues or the two of it); 0, the default, is the LocalExecutor.

It puts the requests in the table (``pending``, due now), triggers ``nightly_batch`` through the REST API and waits
for it to end, then reads every task instance of the batch and of its video runs from the API and reports:

* wall time (the batch run's start to end) and videos per hour;
* busy time: the union of the intervals in which at least one task instance was running (start to end as
  Airflow records them, which includes each task's own start-up in its process);
* outside task bodies: wall time minus busy time, as a share of wall time (scheduling, queueing, parsing, and the
  gaps while every worker slot waits on the scheduler);
* per task: count, mean run time and mean wait from queued to running;
* Airflow's share of task-instance time: the trivial tasks (``review`` unasked, ``translate`` of a
  single-language video, ``publish``: a database write or two each) measure a task instance's start-up under the
  load of the moment; that start-up times every task instance, over the sum of all task instances' run times;
* **CPU**: the whole stack's (every process under supervisord, PostgreSQL's server and, on Celery, Redis: their
  own and their finished children's CPU time, read from ``/proc`` through psutil before and after the batch)
  beside the work's (the "work CPU" lines the ``media``, ``voice`` and ``render`` tasks log: the scene's picture,
  its narration, the render process), per video, and their ratio. The work is what a video costs wherever it
  runs; everything else (the scheduler, the API server, the DAG processor, task start-ups, the database) is the
  orchestration's price.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "include"), str(ROOT / "plugins"), str(ROOT)]

from sqlalchemy import text  # noqa: E402

from pipeline.db import connect  # noqa: E402
from pipeline.queue import check_rows, enqueue  # noqa: E402
from tools import demo  # noqa: E402

SENTENCES = [
    "The harbour wakes before the sun.",
    "Boats slip out past the old wall.",
    "Gulls argue over the morning catch.",
    "Traders shout their prices at noon.",
    "Children dive from the warm pier.",
    "Nets are mended in the long shade.",
    "The lighthouse turns on at dusk.",
    "Fog rolls in over the quiet water.",
]
ASPECTS = ["16:9", "9:16", "1:1"]


def requests_for(prefix: str, count: int, scenes: int) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for n in range(count):
        script = "\n\n".join(
            f"{SENTENCES[(n + i) % len(SENTENCES)]} Part {i + 1} of film {n + 1}." for i in range(scenes)
        )
        rows.append(
            (
                n + 1,
                {
                    "request_id": f"{prefix}{n:02}",
                    "title": f"Bench film {n + 1}",
                    "script": script,
                    "aspect": ASPECTS[n % 3],
                    "voice": ["en-us", "en-gb"][n % 2],
                },
            )
        )
    return rows


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def union_seconds(intervals: list[tuple[datetime, datetime]]) -> float:
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None and current_start is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None and current_start is not None:
        total += (current_end - current_start).total_seconds()
    return total


def task_instances(client: Any, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
    response.raise_for_status()
    return list(response.json()["task_instances"])


def database_sessions(stack: Any) -> dict[str, int]:
    """Sessions PostgreSQL has started per database so far (``pg_stat_database.sessions``): each is a server
    process started, authenticated and torn down."""
    engine = connect(stack.video_db)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT datname, sessions FROM pg_stat_database WHERE datname IS NOT NULL"))
        sessions = {str(name): int(count) for name, count in rows}
    engine.dispose()
    return sessions


def stack_roots(stack: Any, *, celery: bool) -> list[int]:
    """The processes whose trees are the stack: supervisord (every Airflow component, task processes, renders),
    PostgreSQL's postmaster (every backend), and a Redis server when one runs (Celery's broker)."""
    import psutil

    pid = demo.stack_pid()
    if pid is None:
        raise SystemExit("the demo's supervisord is not running")
    roots = [pid]
    engine = connect(stack.video_db)
    with engine.connect() as conn:  # the backend's parent is read while it lives
        backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        roots.append(psutil.Process(backend).ppid())  # the postmaster
    engine.dispose()
    if celery:
        roots += [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "redis-server"]
    return roots


COMPONENTS = ("scheduler", "api-server", "api_server", "dag-processor", "triggerer", "celery", "postgres", "redis")


def component_cpu(roots: list[int]) -> dict[str, float]:
    """User and system CPU of every process under ``roots`` and of their finished (reaped) children, per
    component: each of supervisord's programs with everything under it (the scheduler's tree holds the
    LocalExecutor's workers, the task processes and the renders), PostgreSQL's server, Redis."""
    import psutil

    spent: dict[str, float] = defaultdict(float)
    seen: set[int] = set()

    def add(process: Any, name: str) -> None:
        for each in [process, *process.children(recursive=True)]:
            if each.pid in seen:
                continue
            seen.add(each.pid)
            try:
                times = each.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            spent[name] += times.user + times.system + times.children_user + times.children_system

    for root in roots:
        try:
            top = psutil.Process(root)
            if "supervisord" in " ".join(top.cmdline()):
                for program in top.children():
                    line = " ".join(program.cmdline())
                    add(program, next((c for c in COMPONENTS if c in line), "other").replace("_", "-"))
            add(top, "supervisord" if "supervisord" in " ".join(top.cmdline()) else top.name())
        except psutil.NoSuchProcess:
            continue
    return dict(spent)


def scheduler_tree_cpu(supervisord: int) -> dict[str, float]:
    """The scheduler's tree in three (LocalExecutor): the scheduler's own loop; its executor workers (each
    supervises one task process at a time and relays its Execution API calls); the task processes they forked
    and reaped, with everything under them (the renders, cards and narrations: the work)."""
    import psutil

    spent: dict[str, float] = defaultdict(float)
    try:
        scheduler = next(p for p in psutil.Process(supervisord).children() if "scheduler" in " ".join(p.cmdline()))
        own = scheduler.cpu_times()
        spent["loop"] += own.user + own.system
        spent["executor workers"] += own.children_user + own.children_system  # workers that exited
        for worker in scheduler.children():
            times = worker.cpu_times()
            spent["executor workers"] += times.user + times.system
            spent["task processes"] += times.children_user + times.children_system
            for task in worker.children(recursive=True):  # still running at the moment of reading
                live = task.cpu_times()
                spent["task processes"] += live.user + live.system + live.children_user + live.children_system
    except (StopIteration, psutil.NoSuchProcess, psutil.AccessDenied):
        return {}
    return dict(spent)


def tree_cpu_seconds(roots: list[int]) -> float:
    return sum(component_cpu(roots).values())


WORK_LINE = re.compile(r"work CPU (\d+\.\d+) s: (\w+)")


def work_cpu(client: Any, tis: list[dict[str, Any]]) -> dict[str, float]:
    """The "work CPU" the media, voice and render task instances logged, summed per kind (their last try)."""
    spent: dict[str, float] = defaultdict(float)
    for ti in tis:
        if ti["task_id"] not in {"media", "voice", "render"} or not ti["try_number"]:
            continue
        response = client.get(
            f"/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}",
            params={"map_index": ti["map_index"], "full_content": True},
            headers={"Accept": "application/json"},
        )
        response.raise_for_status()
        for entry in response.json().get("content", []):
            line = entry.get("event", "") if isinstance(entry, dict) else str(entry)
            if found := WORK_LINE.search(str(line)):
                spent[found.group(2)] += float(found.group(1))
    return dict(spent)


def run_batch(stack: Any, prefix: str, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Queue the requests, trigger the batch, wait for it; returns the API client and the finished run."""
    engine = connect(stack.video_db)
    valid, problems = check_rows(requests_for(prefix, args.requests, args.scenes), id_prefix=prefix)
    assert not problems, problems
    with engine.begin() as conn:  # requests already waiting would join this batch and skew the figures
        waiting = conn.execute(text("SELECT count(*) FROM video.requests WHERE status = 'pending'")).scalar_one()
    if waiting:
        raise SystemExit(f"{waiting} request(s) already pending would join the batch: run it on a quiet table")
    assert not enqueue(engine, valid)
    engine.dispose()
    client = stack.api().http
    for dag_id in ("nightly_batch", "video_production"):
        client.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
    run_id = f"bench__{datetime.now(UTC):%Y%m%dT%H%M%S}"
    started = time.monotonic()
    client.post(
        "/dags/nightly_batch/dagRuns", json={"dag_run_id": run_id, "logical_date": datetime.now(UTC).isoformat()}
    ).raise_for_status()
    while True:
        run = client.get(f"/dags/nightly_batch/dagRuns/{run_id}").json()
        if run["state"] in ("success", "failed"):
            print(file=sys.stderr)
            return client, run
        print(f"\r{time.monotonic() - started:6.0f} s  batch {run['state']}", end="", file=sys.stderr, flush=True)
        time.sleep(10)


def measure(stack: Any, client: Any, run: dict[str, Any], prefix: str, args: argparse.Namespace) -> dict[str, Any]:
    batch_tis = task_instances(client, "nightly_batch", run["dag_run_id"])
    night = f"{parse_time(run['logical_date']):%Y%m%d}"
    tis = [*batch_tis]
    for n in range(args.requests):
        tis.extend(task_instances(client, "video_production", f"video__{prefix}{n:02}__{night}"))
    wall = (parse_time(run["end_date"]) - parse_time(run["start_date"])).total_seconds()  # type: ignore[operator]
    intervals = [
        (parse_time(ti["start_date"]), parse_time(ti["end_date"]))
        for ti in tis
        if ti["start_date"] and ti["end_date"] and ti["task_id"] != "wait_for_videos"
    ]
    busy = union_seconds(intervals)  # type: ignore[arg-type]
    per_task: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for ti in tis:
        if ti["start_date"] and ti["end_date"]:
            queued = parse_time(ti.get("queued_when")) or parse_time(ti["start_date"])
            wait = (parse_time(ti["start_date"]) - queued).total_seconds()  # type: ignore[operator]
            per_task[ti["task_id"]].append((float(ti["duration"] or 0), wait))
    engine = connect(stack.video_db)
    with engine.connect() as conn:
        statuses = conn.execute(
            text("SELECT status, count(*) FROM video.requests WHERE request_key LIKE :p GROUP BY status"),
            {"p": f"{prefix}%"},
        ).all()
        minutes = conn.execute(
            text(
                "SELECT coalesce(sum(v.duration_s), 0) / 60 FROM video.rendered_videos v JOIN video.projects p "
                "ON p.id = v.project_id JOIN video.requests r ON r.id = p.request_id "
                "WHERE r.request_key LIKE :p AND v.published"
            ),
            {"p": f"{prefix}%"},
        ).scalar_one()
    engine.dispose()
    tasks = {
        name: {
            "count": len(v),
            "mean_run_s": round(sum(d for d, _ in v) / len(v), 2),
            "mean_queue_wait_s": round(sum(w for _, w in v) / len(v), 2),
        }
        for name, v in sorted(per_task.items())
    }
    trivial = [d for name in ("review", "translate", "publish") for d, _ in per_task.get(name, [])]
    startup = sum(trivial) / len(trivial) if trivial else 0.0
    ti_seconds = sum(d for name, v in per_task.items() if name != "wait_for_videos" for d, _ in v)
    counted = sum(len(v) for name, v in per_task.items() if name != "wait_for_videos")
    return {
        "executor": f"CeleryExecutor, {args.celery_workers} worker(s)" if args.celery_workers else "LocalExecutor",
        "requests": args.requests,
        "scenes": args.scenes,
        "batch_state": run["state"],
        "statuses": dict(statuses),  # type: ignore[arg-type]
        "triggered": sum(ti["task_id"] == "trigger" for ti in batch_tis),
        "video_minutes": round(float(minutes), 2),
        "wall_s": round(wall, 1),
        "videos_per_hour": round(args.requests / (wall / 3600), 1),
        "busy_s": round(busy, 1),
        "outside_task_bodies_share": round(1 - busy / wall, 3),
        "task_startup_s": round(startup, 2),
        "airflow_share_of_task_time": round(min(1.0, startup * counted / ti_seconds), 3) if ti_seconds else None,
        "tasks": tasks,
        "work_cpu_s": work_cpu(client, tis),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--scenes", type=int, default=6)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--celery-workers", type=int, choices=[0, 1, 2], default=0, help="0: LocalExecutor")
    args = parser.parse_args(argv)

    # a stack started here runs the batch only when triggered (scheduled, it would also start last night's batch)
    os.environ.setdefault("VIDEO_BATCH_SCHEDULE", "none")
    stack = demo.site(args.port, celery=args.celery_workers > 0)
    os.environ.update(stack.environment())
    demo.start_airflow(stack, celery_workers=args.celery_workers or 2)
    prefix = f"bench-{secrets.token_hex(3)}-"
    roots = stack_roots(stack, celery=args.celery_workers > 0)
    cpu_before, sessions_before = component_cpu(roots), database_sessions(stack)
    split_before = {} if args.celery_workers else scheduler_tree_cpu(roots[0])
    client, run = run_batch(stack, prefix, args)
    cpu_after, sessions_after = component_cpu(roots), database_sessions(stack)
    split_after = {} if args.celery_workers else scheduler_tree_cpu(roots[0])
    per_component = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    stack_cpu = sum(per_component.values())
    result = measure(stack, client, run, prefix, args)
    work = result.pop("work_cpu_s")
    videos = max(1, result["statuses"].get("completed", 0))
    result.update(
        stack_cpu_s=round(stack_cpu, 1),
        stack_cpu_by_component_s={name: round(s, 1) for name, s in sorted(per_component.items(), key=lambda i: -i[1])},
        work_cpu_s={kind: round(seconds, 1) for kind, seconds in sorted(work.items())},
        scheduler_tree_s={name: round(split_after[name] - split_before.get(name, 0.0), 1) for name in split_after},
        stack_cpu_per_video_s=round(stack_cpu / videos, 2),
        work_cpu_per_video_s=round(sum(work.values()) / videos, 2),
        stack_to_work=round(stack_cpu / sum(work.values()), 2) if work else None,
        database_sessions_per_video={
            name: round((sessions_after[name] - sessions_before.get(name, 0)) / videos, 1)
            for name in sorted(sessions_after)
            if sessions_after[name] > sessions_before.get(name, 0)
        },
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.requests} requests x {args.scenes} scenes: batch {run['state']}, statuses {result['statuses']}")
        print(
            f"wall {result['wall_s'] / 60:.1f} min, {result['videos_per_hour']} videos/hour, "
            f"{result['video_minutes']} min of video"
        )
        print(f"busy {result['busy_s'] / 60:.1f} min; outside task bodies {result['outside_task_bodies_share']:.0%}")
        print(
            f"{result['executor']}: task start-up {result['task_startup_s']} s, "
            f"Airflow's share of task-instance time {result['airflow_share_of_task_time']:.0%}"
        )
        print(
            f"CPU per video: stack {result['stack_cpu_per_video_s']} s, work {result['work_cpu_per_video_s']} s "
            f"({', '.join(f'{k} {v} s' for k, v in result['work_cpu_s'].items())} in all): "
            f"the stack costs {result['stack_to_work']}x its work"
        )
        print("  " + ", ".join(f"{name} {s} s" for name, s in result["stack_cpu_by_component_s"].items()))
        if split := result["scheduler_tree_s"]:
            beyond = split.get("task processes", 0.0) - sum(result["work_cpu_s"].values())
            print(
                "  the scheduler's tree: "
                + ", ".join(f"{name} {s} s" for name, s in split.items())
                + f" (task processes beyond the work: {beyond / videos:.2f} s per video)"
            )
        sessions = result["database_sessions_per_video"]
        print("  database sessions per video: " + ", ".join(f"{name} {n}" for name, n in sessions.items()))
        for name, figures in result["tasks"].items():
            print(
                f"  {name:16} x{figures['count']:4}  run {figures['mean_run_s']:6.2f} s  "
                f"queued->running {figures['mean_queue_wait_s']:6.2f} s"
            )
    with (ROOT / "benchmarks" / f"results-batch-{datetime.now(UTC):%Y-%m-%d}.jsonl").open("a") as log:
        log.write(json.dumps(result) + "\n")
    return 0 if run["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
