"""The embedded Airflow stack under supervisord: every component is restarted when it exits.

``airflow standalone`` starts the API server, scheduler, dag-processor and triggerer once and never again: when
PostgreSQL goes away for a minute they exit, and the factory stops silently. Here supervisord (a well-kept process
supervisor) runs each of them, restarts one that exits (with a growing pause while it keeps failing, e.g. while
the database is down), and stops them all, process groups included, on SIGTERM.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tools.stack import PROJECT_ROOT, RENDER_QUEUE, AirflowSite

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# With the CeleryExecutor: two workers, named apart (their task instances' hostname, Celery's node name); the
# render worker serves the render queue first and ordinary tasks when it has slots left.
CELERY_WORKERS = {"worker-default": "default", "worker-render": f"{RENDER_QUEUE},default"}
# Least exposure: Airflow's log server binds every interface and cannot be told otherwise; on one machine the API
# server reads the task logs from the shared log folder, so the components that would start it do not.
SKIP_SERVE_LOGS = {"scheduler": " --skip-serve-logs", "triggerer": " --skip-serve-logs"}
# the components the health endpoint reports, by its names
HEALTH_NAMES = {"metadatabase": "database", "scheduler": "scheduler", "dag_processor": "dag-processor",
                "triggerer": "triggerer"}  # fmt: skip


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


def write_config(folder: Path, programs: dict[str, str]) -> Path:
    """``supervisord.conf`` for Airflow's components, their logs in ``folder``; they inherit supervisord's
    environment (the site's settings)."""
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
            "autorestart=true",  # restarted whenever it exits
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


def start(site: AirflowSite, folder: Path, log: Path, *, celery_workers: int = 2) -> subprocess.Popen[bytes]:
    """supervisord, with ``site``'s environment, in its own session (it outlives the command that started it);
    SIGTERM stops it and every component."""
    config = write_config(folder, commands(site, celery_workers=celery_workers))
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
