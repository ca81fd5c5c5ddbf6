"""The embedded Airflow stack under supervisord: every component is restarted when it exits.

``airflow standalone`` starts the API server, scheduler, dag-processor and triggerer once and never again: when
PostgreSQL goes away for a minute they exit, and the factory stops silently. Here supervisord (a well-kept process
supervisor) runs each of them, restarts one that exits (with a growing pause while it keeps failing, e.g. while
the database is down), and stops them all, process groups included, on SIGTERM.
"""

from __future__ import annotations

import compileall
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tools.stack import PROJECT_ROOT, RENDER_QUEUE, AirflowSite, SiteError

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# With the CeleryExecutor: two workers, named apart (their task instances' hostname, Celery's node name); the
# render worker serves the render queue first and ordinary tasks when it has slots left.
CELERY_WORKERS = {"worker-default": "default", "worker-render": f"{RENDER_QUEUE},default"}
# Least exposure: Airflow's log server binds every interface and cannot be told otherwise; on one machine the API
# server reads the task logs from the shared log folder, so the components that would start it do not.
SKIP_SERVE_LOGS = {"scheduler": " --skip-serve-logs", "triggerer": " --skip-serve-logs"}
# the components the health endpoint reports, by its names
HEALTH_NAMES = {
    "metadatabase": "database",
    "scheduler": "scheduler",
    "dag_processor": "dag-processor",
    "triggerer": "triggerer",
}


def commands(site: AirflowSite, *, celery_workers: int = 2) -> dict[str, str]:
    """Each supervised program's command line: Airflow's components, and Celery workers when the site has a
    broker (both of ``CELERY_WORKERS``, or with ``celery_workers=1`` the render worker alone, serving both queues)."""
    airflow = f"{sys.executable} -m airflow"
    programs = {name: f"{airflow} {name}{SKIP_SERVE_LOGS.get(name, '')}" for name in COMPONENTS}
    if site.celery_broker:
        workers = list(CELERY_WORKERS.items())[-celery_workers:]
        for name, queues in workers:
            # on one machine the API server reads task logs from the shared folder: no log server per worker
            programs[name] = (
                f"env VIDEO_WORKER_NAME={name} {airflow} celery worker --celery-hostname {name}@%h "
                f"--queues {queues} --skip-serve-logs"
            )
    return programs


def write_config(folder: Path, programs: dict[str, str], *, restart: bool = True) -> Path:
    """``supervisord.conf`` for Airflow's components, their logs in ``folder``; they inherit supervisord's
    environment (the site's settings). ``restart=False``: a program that exits stays down (a test that kills a
    worker watches what the others do without it)."""
    folder.mkdir(parents=True, exist_ok=True)
    sections = [
        "[supervisord]",
        "nodaemon=true",
        f"logfile={folder / 'supervisord.log'}",
        f"pidfile={folder / 'supervisord.pid'}",
        f"directory={PROJECT_ROOT}",
        "",
    ]
    for component, command in programs.items():
        sections += [
            f"[program:{component}]",
            f"command={command}",
            f"autorestart={str(restart).lower()}",  # restarted whenever it exits
            "startsecs=10",  # an exit within 10 s counts as a failed start: the next waits 1 s longer each time
            "startretries=200",  # ~5.5 hours of retries before supervisord gives the component up
            "stopasgroup=true",
            "killasgroup=true",
            "stopwaitsecs=30",
            "redirect_stderr=true",
            f"stdout_logfile={folder / f'{component}.log'}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=2",
            "",
        ]
    config = folder / "supervisord.conf"
    config.write_text("\n".join(sections).replace("%", "%%"), encoding="utf-8")
    return config


def compile_sources(root: Path = PROJECT_ROOT) -> bool:
    """The project's Python sources compiled to bytecode (``__pycache__`` beside them) where they are stale: each
    process then reads them instead of compiling them again. A task process runs its DAG file, a local render
    imports the pipeline; where ``PYTHONDONTWRITEBYTECODE`` is set (as on these machines, and in many images) no
    process writes the cache, so each compiled them again, every time (docs/benchmarks.md, "Orchestration CPU").
    The setting only stops writing: a compiled file is read. False where a folder could not be compiled (read-only:
    nothing changes; the other folders are compiled all the same)."""
    compiled = [compileall.compile_dir(root / folder, quiet=2) for folder in ("dags", "plugins", "include")]
    return all(compiled)


def start(
    site: AirflowSite, folder: Path, log: Path, *, celery_workers: int = 2, restart: bool = True
) -> subprocess.Popen[bytes]:
    """supervisord, with ``site``'s environment, in its own session (it outlives the command that started it);
    SIGTERM stops it and every component."""
    compile_sources()
    config = write_config(folder, commands(site, celery_workers=celery_workers), restart=restart)
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(config)],
            env={**os.environ, **site.environment()},
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=PROJECT_ROOT,
        )


@dataclass
class Stack:
    """A site's Airflow under supervisord: the one way the demo and the tests start and watch a stack."""

    site: AirflowSite
    folder: Path  # supervisord.conf, supervisord.log and one log per component
    process: subprocess.Popen[bytes] | None = None  # None: a supervisord started earlier (make demo reusing it)

    @classmethod
    def start(cls, site: AirflowSite, folder: Path, *, celery_workers: int = 2, restart: bool = True) -> Stack:
        folder.mkdir(parents=True, exist_ok=True)
        process = start(site, folder, folder / "supervisord.out", celery_workers=celery_workers, restart=restart)
        return cls(site, folder, process)

    def log(self, program: str) -> Path:
        return self.folder / f"{program}.log"

    def wait_healthy(self, timeout_s: float = 240) -> None:
        """Until the health endpoint reports the database, scheduler, dag-processor and triggerer healthy."""
        deadline = time.monotonic() + timeout_s
        while bad := unhealthy(self.site.api_url):
            if self.process is not None and self.process.poll() is not None:
                raise SiteError(f"supervisord exited ({self.process.returncode}): see {self.folder}/supervisord.out")
            if time.monotonic() > deadline:
                logs = ", ".join(str(self.log(name)) for name in bad if name != "database")
                raise SiteError(
                    f"not healthy after {timeout_s:.0f} s: {', '.join(bad)} (logs: {logs or self.folder}); "
                    "fix the cause, then start it again"
                )
            time.sleep(0.5)

    def pid(self, program: str) -> int:
        """The process id supervisord last gave ``program`` (each program leads its own process group)."""
        spawned = re.findall(rf"spawned: '{re.escape(program)}' with pid (\d+)", self._supervisord_log())
        if not spawned:
            raise SiteError(f"supervisord has not started {program}")
        return int(spawned[-1])

    def exits(self, program: str) -> int:
        """How often ``program`` has exited (supervisord's ``exited: NAME (...)`` lines)."""
        return self._supervisord_log().count(f"exited: {program} (")

    def restarts(self) -> int:
        """How often supervisord started a program again after it exited."""
        return self._supervisord_log().count("spawned: ") - len(commands(self.site))

    def _supervisord_log(self) -> str:
        path = self.folder / "supervisord.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def stop(self, timeout_s: float = 90) -> None:
        """SIGTERM to supervisord, which stops every component's process group; SIGKILL to all if that hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextmanager
def running_stack(
    site: AirflowSite, folder: Path, *, celery_workers: int = 2, restart: bool = True, wait_for_dag: str = ""
) -> Iterator[Stack]:
    """A started, healthy stack (and, given ``wait_for_dag``, with that DAG parsed), stopped on the way out; the
    components' last log lines are printed when starting or the body fails."""
    stack = Stack.start(site, folder, celery_workers=celery_workers, restart=restart)
    try:
        stack.wait_healthy()
        if wait_for_dag:
            api = site.api()
            try:
                api.wait_for_dag(wait_for_dag)
            finally:
                api.close()
        yield stack
    except BaseException:
        print_logs(folder)
        raise
    finally:
        stack.stop()


def print_logs(folder: Path, chars: int = 4000) -> None:
    """The end of every log in ``folder``: what a failed test or start shows of the components."""
    for log in sorted(folder.glob("*.log")):
        print(f"===== {log.name} =====\n{log.read_text(errors='replace')[-chars:]}")


def component_health(api_url: str) -> dict[str, str]:
    """Each component's status as the API server's health endpoint reports it ({} when the API does not answer)."""
    try:
        response = httpx.get(f"{api_url}/api/v2/monitor/health", timeout=5)
        report = response.json() if response.status_code == 200 else {}
    except (httpx.TransportError, ValueError):
        return {}
    return {label: (report.get(name) or {}).get("status") or "unknown" for name, label in HEALTH_NAMES.items()}


def unhealthy(api_url: str) -> list[str]:
    """The components that are not healthy (all of them when the API server does not answer)."""
    health = component_health(api_url)
    if not health:
        return ["api-server", *HEALTH_NAMES.values()]
    return [name for name, status in health.items() if status != "healthy"]
