"""Real services for the tests: a PostgreSQL server, a fresh pair of databases per run, a migrated Airflow.

The server is ``$VIDEO_TEST_PG_URL``, else the one on 127.0.0.1:5432, else an embedded one started under
``.local/test-pg``. Airflow's settings are put in the environment in ``pytest_configure``, before anything
imports Airflow.
"""

from __future__ import annotations

import dataclasses
import email
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url

from pipeline.config import Settings
from pipeline.db import VideoRepository, connect, upgrade
from tests.stack_helpers import CHROMIUM_ARGS, DAG, SCREENSHOTS
from tools.stack import (
    AIRFLOW_USER,
    LOCAL_DIR,
    AirflowSite,
    copy_database,
    drop_database,
    ensure_database,
    free_port,
    prepare_site,
    server_reachable,
    start_embedded_postgres,
)
from tools.supervise import Stack, running_stack

LOCAL_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
_state: dict[str, object] = {}


def _pick_server() -> URL:
    configured = os.environ.get("VIDEO_TEST_PG_URL")
    if configured:
        return make_url(configured)
    local = make_url(LOCAL_SERVER)
    if server_reachable(local):
        return local
    return start_embedded_postgres(LOCAL_DIR / "test-pg" / "data")


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return  # the controller of ``pytest -n``: each worker process prepares a site of its own
    server = _pick_server()
    prefix = f"vftest_{os.getpid()}_{secrets.token_hex(3)}"
    root = Path(tempfile.mkdtemp(prefix="video-factory-tests-"))
    site = AirflowSite(
        home=root / "airflow",
        airflow_db=ensure_database(server, f"{prefix}_airflow"),
        video_db=ensure_database(server, f"{prefix}_video"),
        data_dir=root / "data",
        port=free_port(),
    )
    _state.update(server=server, prefix=prefix, root=root, site=site)
    os.environ.update(site.environment())
    # Fast retries keep failure tests short; the behaviour (exponential backoff) is the same.
    os.environ.update({"VIDEO_RETRIES": "1", "VIDEO_RETRY_DELAY_S": "1", "VIDEO_MAX_RETRY_DELAY_S": "2"})
    # the batch looks at its runs every 5 s, not every minute; and runs only when a test triggers it (scheduled, the
    # scheduler would start last night's batch at once and make every pending row another test left)
    os.environ.update({"VIDEO_BATCH_POKE_S": "5", "VIDEO_BATCH_SCHEDULE": "none"})
    prepare_site(site)  # both schemas and the pools, as make demo prepares its site
    # the running Airflow of the stack tests gets a metadata database of its own (a copy, made before anything
    # connects): its scheduler would otherwise adopt, and fail, the task instances of this worker's dag.test() runs
    stack_db = copy_database(server, f"{prefix}_airflow", f"{prefix}_stack_airflow")
    _state.update(stack_site=dataclasses.replace(site, airflow_db=stack_db))


# Tiers, from the fixtures a test asks for: ``stack`` needs a running Airflow, ``browser`` drives Chromium (a module
# marks the rest itself: celery, fault, slow). Under ``pytest -n`` each stack's modules are one unit of work, so
# its tests share one worker and one Airflow; the largest unit goes first (xdist's own ``xdist_group`` does not
# work with pytest 9: it renames ``item._nodeid``, which pytest 9 no longer reads).
_STACK_FIXTURES = {"airflow_stack": "airflow", "celery_stack": "celery", "supervised_stack": "outage"}
STACK_MODULES = {
    **dict.fromkeys(
        [
            "tests/test_faults.py",
            "tests/test_hostile_input.py",
            "tests/test_rest_api.py",
            "tests/test_review.py",
            "tests/test_trigger_form.py",
            "tests/test_videoctl.py",
            "tests/test_videos_page.py",
        ],
        "airflow",
    ),
    "tests/test_celery.py": "celery",
    "tests/test_outage.py": "outage",
}


def stack_of(nodeid: str) -> str | None:
    """The stack whose worker runs this test (by its module), or None: any worker."""
    return STACK_MODULES.get(nodeid.split("::", 1)[0])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & {"browser", "browser_page"}:
            item.add_marker(pytest.mark.browser)
        for fixture, group in _STACK_FIXTURES.items():
            if fixture in fixtures:
                item.add_marker(pytest.mark.stack)
                if stack_of(item.nodeid) != group:
                    module = item.nodeid.split("::", 1)[0]
                    raise pytest.UsageError(f"{module} uses the {group} stack: add it to STACK_MODULES in conftest.py")
    order = list(_STACK_FIXTURES.values())

    def rank(item: pytest.Item) -> int:
        group = stack_of(item.nodeid)
        return order.index(group) if group else len(order)

    items.sort(key=rank)  # stable: each group keeps its modules' order


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's scope scheduling with a stack's modules as one scope, and every other test a scope of its own."""
    from xdist.scheduler import LoadScopeScheduling

    class StackScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return stack_of(nodeid) or nodeid

    return StackScheduling(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    server = _state.get("server")
    if not isinstance(server, URL):
        return
    airflow_settings = sys.modules.get("airflow.settings")
    if airflow_settings is not None:  # close Airflow's pooled connections before their database is dropped
        airflow_settings.dispose_orm()
    for name in _databases_with_prefix(server, str(_state["prefix"])):
        drop_database(server, name)
    shutil.rmtree(str(_state["root"]), ignore_errors=True)


def _databases_with_prefix(server: URL, prefix: str) -> list[str]:
    from sqlalchemy import create_engine

    engine = create_engine(server)
    with engine.connect() as conn:
        names = conn.execute(text("SELECT datname FROM pg_database WHERE starts_with(datname, :p)"), {"p": prefix})
        found = list(names.scalars())
    engine.dispose()
    return found


@pytest.fixture(scope="session")
def airflow_site() -> AirflowSite:
    site = _state["site"]
    assert isinstance(site, AirflowSite)
    return site


@pytest.fixture(scope="session")
def video_engine(airflow_site: AirflowSite) -> Iterator[Engine]:
    engine = connect(airflow_site.video_db)
    yield engine
    engine.dispose()


@pytest.fixture
def repository(video_engine: Engine) -> VideoRepository:
    return VideoRepository(video_engine)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose data folder is this test's own."""
    monkeypatch.setenv("VIDEO_DATA_DIR", str(tmp_path / "data"))
    return Settings()


@pytest.fixture(scope="session")
def pg_server() -> URL:
    """The PostgreSQL server of this run (its ``postgres`` database)."""
    server = _state["server"]
    assert isinstance(server, URL)
    return server


@pytest.fixture(scope="session")
def database_prefix() -> str:
    """This run's prefix of database names (every database with it is dropped at the end)."""
    return str(_state["prefix"])


@pytest.fixture
def fresh_database(airflow_site: AirflowSite) -> Iterator[URL]:
    """An empty database of its own, for migration tests."""
    server = _state["server"]
    assert isinstance(server, URL)
    name = f"{_state['prefix']}_m{secrets.token_hex(2)}"
    url = ensure_database(server, name)
    yield url
    drop_database(server, name)


@pytest.fixture
def engine(fresh_database: URL) -> Iterator[Engine]:
    """A database of the test's own with the project's tables (migrated to head)."""
    upgrade(fresh_database.render_as_string(hide_password=False))
    engine = connect(fresh_database)
    yield engine
    engine.dispose()


@pytest.fixture
def count_rows(video_engine: Engine) -> Callable[..., int]:
    """``count_rows("scenes", "project_id = :p", p=1)``: rows of a project table."""

    def count(table: str, where: str = "true", **params: object) -> int:
        with video_engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM video.{table} WHERE {where}"), params).scalar_one())

    return count


class _Inbox:
    """aiosmtpd handler that keeps every message it is sent."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Inbox]:
    """A real SMTP server on loopback, configured as Airflow's ``smtp_default`` connection."""
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    connection = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"disable_tls": True, "disable_ssl": True, "timeout": 10, "retry_limit": 1},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(connection))
    yield inbox
    controller.stop()


PLAIN_RENDER = {
    "ken_burns": False,
    "crossfade_s": 0,
    "scene_padding_s": 0,
    "burn_subtitles": False,
    "soft_subtitles": False,
}


@pytest.fixture
def make_render_spec(settings: Settings) -> Callable[..., Path]:
    """Write a render spec of real scene assets (Pillow cards, espeak-ng narration) in the test's storage.

    ``make_render_spec(texts=[...], width=1280, height=720, media={index: key}, **options)``: look-and-sound
    options default to a plain render (no effects); other options (``music_key``, ``music_volume``) are spec fields.
    """
    from pipeline.request import LookAndSound
    from pipeline.storage import open_storage
    from tools.render_samples import sample_render_spec

    def make(
        texts: list[str], width: int = 1280, height: int = 720, media: dict[int, str] | None = None, **options: Any
    ) -> Path:
        spec = sample_render_spec(
            texts,
            storage=open_storage(settings),
            work_dir=settings.work_dir,
            width=width,
            height=height,
            look=LookAndSound(
                **{**PLAIN_RENDER, **{k: v for k, v in options.items() if k in LookAndSound.model_fields}}
            ),
            run_id=f"run-{secrets.token_hex(3)}",
            clips=media,
        )
        spec = spec.model_copy(update={k: v for k, v in options.items() if k not in LookAndSound.model_fields})
        path = settings.data_dir / f"spec-{secrets.token_hex(3)}.json"
        path.write_text(spec.model_dump_json())
        return path

    return make


@pytest.fixture
def run_render(settings: Settings) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m pipeline.render --spec SPEC [args]`` as its own process, with this test's settings.

    ``python`` and ``env`` replace the interpreter and the whole environment (a render image stand-in, a pod).
    """

    def run(
        spec: Path | str, *args: str, python: str = sys.executable, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-m", "pipeline.render", "--spec", str(spec), *args],
            capture_output=True,
            text=True,
            env=env if env is not None else {**os.environ, "VIDEO_DATA_DIR": str(settings.data_dir)},
            timeout=600,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto in server mode on loopback: real boto3 clients talk HTTP to it. Yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_server: str, aws_credentials: None) -> tuple[Any, str]:
    """A fresh bucket on the moto server and a boto3 client for it."""
    import boto3

    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    bucket = f"videos-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


def _serve(stub_class: Any) -> Iterator[Any]:
    """A stand-in of ``tests.stubs`` on its own loopback port; handler errors fail the test at the end."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    stub = stub_class(server).install()
    yield stub
    server.stop()
    server.check_handler_errors()


@pytest.fixture
def gemini_stub() -> Iterator[Any]:
    """Gemini's generateContent on loopback (structured JSON answers, planned failures)."""
    from tests.stubs import GeminiStub

    yield from _serve(GeminiStub)


@pytest.fixture
def stability_stub() -> Iterator[Any]:
    """Stability's stable-image endpoints on loopback (real PNGs, planned failures)."""
    from tests.stubs import StabilityStub

    yield from _serve(StabilityStub)


@pytest.fixture
def youtube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """YouTube's Data API (token, resumable uploads, thumbnails, playlist items) on loopback over TLS."""
    from tests.youtube_standin import serve

    stand_in = serve(tmp_path_factory.mktemp("youtube"))
    yield stand_in
    stand_in.server.stop()
    stand_in.server.check_handler_errors()


@pytest.fixture
def pexels_stub() -> Iterator[Any]:
    """Pexels' search endpoints on loopback, serving real clips and photos (planned failures)."""
    from tests.stubs import PexelsStub

    yield from _serve(PexelsStub)


@pytest.fixture
def polly_stub() -> Iterator[Any]:
    """Polly's REST API on loopback with real MP3 speech and word speech marks."""
    from tests.stubs import PollyStub

    yield from _serve(PollyStub)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A running Airflow (API server, scheduler, dag-processor, triggerer under supervisord, as ``make demo``
    runs them), shared by the REST, CLI and browser tests: ``airflow_site``'s home, data, project database and port,
    with a metadata database of its own."""
    site = _state["stack_site"]
    assert isinstance(site, AirflowSite)
    with running_stack(site, tmp_path_factory.mktemp("airflow-components"), wait_for_dag=DAG) as stack:
        yield stack


@pytest.fixture(scope="session")
def airflow_logs(airflow_stack: Stack) -> Path:
    """Where the running Airflow's components write their output (``scheduler.log``, ``api-server.log``, ...)."""
    return airflow_stack.folder


@pytest.fixture(scope="session")
def airflow(airflow_stack: Stack) -> Iterator[httpx.Client]:
    """The REST API of the running Airflow (``/api/v2``), logged in as the admin."""
    api = airflow_stack.site.api()
    yield api.http
    api.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, one per test run (Playwright cannot download a browser here)."""
    from playwright.sync_api import sync_playwright

    if shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed (make test installs it)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def browser_page(browser: Any, airflow_site: AirflowSite, airflow: httpx.Client) -> Iterator[Any]:
    """A page logged in to the running Airflow's UI as the admin, shared by the browser tests."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(f"{airflow_site.api_url}/auth/login")
    page.get_by_label("Username").fill(AIRFLOW_USER)
    page.get_by_label("Password").fill(airflow_site.password())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    yield page
    page.close()


SENDER = "video-factory@localhost"  # the verified SES identity of the paid-provider tests


@pytest.fixture
def providers(  # noqa: PLR0917 - pytest passes fixtures by name
    monkeypatch: pytest.MonkeyPatch,
    gemini_stub: Any,
    stability_stub: Any,
    polly_stub: Any,
    pexels_stub: Any,
    moto_server: str,
    s3_bucket: tuple[Any, str],
) -> dict[str, Any]:
    """Configure the paid providers through Airflow connections, the way production does."""
    import boto3

    client, bucket = s3_bucket
    boto3.client("ses", endpoint_url=moto_server, region_name="us-east-1").verify_email_identity(EmailAddress=SENDER)
    aws = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {
            "region_name": "us-east-1",
            "endpoint_url": moto_server,
            "service_config": {"polly": {"endpoint_url": polly_stub.url}},
        },
    }
    for name, value in {
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws),
        "AIRFLOW_CONN_GEMINI_DEFAULT": json.dumps(
            {"conn_type": "generic", "password": "gm-test", "extra": {"base_url": gemini_stub.url}}
        ),
        "AIRFLOW_CONN_STABILITY_DEFAULT": json.dumps(
            {"conn_type": "generic", "password": "sk-test", "extra": {"base_url": stability_stub.url}}
        ),
        "AIRFLOW_CONN_PEXELS_DEFAULT": json.dumps(
            {"conn_type": "generic", "password": "px-test", "extra": {"base_url": pexels_stub.url}}
        ),
        "VIDEO_SCRIPT_PROVIDER": "gemini",
        "VIDEO_IMAGE_PROVIDER": "stability",
        "VIDEO_VOICE_PROVIDER": "polly",
        "VIDEO_STORAGE_BACKEND": "s3",
        "VIDEO_S3_BUCKET": bucket,
        "VIDEO_EMAIL_BACKEND": "ses",
        "VIDEO_EMAIL_FROM": f"Video Factory <{SENDER}>",
        "VIDEO_PROVIDER_TIMEOUT_S": "10",
    }.items():
        monkeypatch.setenv(name, value)
    # the render process must get its S3 credentials from the connection, not from the environment
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    return {
        "gemini": gemini_stub,
        "stability": stability_stub,
        "polly": polly_stub,
        "pexels": pexels_stub,
        "s3": client,
        "bucket": bucket,
    }
