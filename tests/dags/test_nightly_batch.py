"""The nightly batch against a real PostgreSQL: claiming (two at once, retried, stale), Great Expectations'
verdicts per row, triggering each valid row's run exactly once, and the emails a submitter and ops read."""

from __future__ import annotations

import datetime as dt
import email
import itertools
import secrets
import threading
from collections.abc import Iterator
from email import policy
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from pipeline.batch import trigger_run_id
from pipeline.constants import DagId
from pipeline.db import connect, upgrade
from pipeline.db.queue import claim, release_stale
from pipeline.db.repository import request_columns
from pipeline.request import VideoRequest
from tests.dags.parsing import parse_dag
from tools.stack import AirflowSite, airflow_connection_json

NIGHT = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)
SCRIPTS = [
    "Tides rise twice a day.\n\nThe moon pulls the sea.",
    "Bees dance to share the way to flowers.",
    "Glaciers carve valleys over thousands of years.",
    "Owls turn their heads almost all the way round.",
    "Salt crystals grow in cubes.",
    "Rain forests make some of their own rain.",
    "Octopuses taste with their arms.",
    "Sand dunes sing when the wind is right.",
    "Lichens are two living things in one.",
    "Volcanic glass is called obsidian.",
    "Mushrooms talk through threads underground.",
    "Hummingbirds can fly backwards.",
    "Coral reefs are built by tiny animals.",
    "Lightning is hotter than the surface of the sun.",
    "Penguins huddle to keep warm.",
]
# six rows, each broken a different way, and what the batch must say about each
INVALID = {
    "no-text": ({"script": None, "topic": None}, "script", "give a script or a topic"),
    "long-title": ({"title": "T" * 250}, "title", "must be 1 to 200 characters"),
    "bad-voice": ({"voice": "xx-klingon"}, "voice", "not a voice of its provider: espeak:xx-klingon"),
    "bad-email": ({"notify_emails": ["ops@example.com", "not-an-email"]}, "notify_emails", "every entry must be"),
    "same-script": ({"script": SCRIPTS[0]}, "script", "the same script as request"),
    "no-music": ({"music": "nowhere.wav"}, "music", "no track nowhere.wav in the music library"),
}


@pytest.fixture
def batch_db(fresh_database: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A request table of the test's own, which the DAG's tasks use through the video_db connection."""
    upgrade(fresh_database.render_as_string(hide_password=False))
    monkeypatch.setenv("AIRFLOW_CONN_VIDEO_DB", airflow_connection_json(fresh_database))
    engine = connect(fresh_database)
    yield engine
    engine.dispose()


def _insert(
    engine: Engine,
    key: str,
    *,
    priority: int = 0,
    submitted_by: str | None = None,
    scheduled_for: dt.datetime | None = None,
    **fields: Any,
) -> None:
    """A row as another tool would write it to the table: the payload is not checked on the way in."""
    conf = {"request_id": key, "title": f"Fact {key}", "script": "Hello.", "voice": "en-us", **fields}
    columns = request_columns(  # the columns of a valid stand-in; the payload is the row's own
        VideoRequest.from_conf({**conf, "title": "t", "notify_emails": None, "script": conf["script"] or "x"})
    )
    columns.update(title=conf["title"], payload=conf, notify_emails=conf.get("notify_emails") or [])
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO video.requests (request_key, title, script, topic, voice, aspect, resolution, "
                "notify_emails, payload, status, priority, submitted_by, scheduled_for) VALUES (:k, :title, '', "
                "'', :voice, :aspect, :resolution, CAST(:emails AS jsonb), CAST(:payload AS jsonb), 'pending', :p, "
                ":by, :at)"
            ),
            {
                "k": key,
                "title": conf["title"],
                "voice": columns["voice"],
                "aspect": columns["aspect"],
                "resolution": columns["resolution"],
                "emails": _json(columns["notify_emails"]),
                "payload": _json(conf),
                "p": priority,
                "by": submitted_by,
                "at": scheduled_for,
            },
        )


def _json(value: object) -> str:
    import json

    return json.dumps(value)


@pytest.fixture
def forget_triggered_runs() -> Iterator[list[str]]:
    """Request-id prefixes whose triggered video runs are deleted after the test: ``dag.test()`` makes them but
    never runs them, and a scheduler started later in the session would make all those videos at once."""
    prefixes: list[str] = []
    yield prefixes
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        for prefix in prefixes:
            session.query(DagRun).filter(DagRun.dag_id == DagId.VIDEO, DagRun.run_id.like(f"video__{prefix}%")).delete(
                synchronize_session=False
            )


def _batch_dag() -> Any:
    """The batch DAG for ``dag.test()``, without its deadline: Airflow 3.3.2's ``dag.test()`` looks the SDK DAG's
    alerts up as if they were stored ids and fails (``can't adapt type 'dict'``). The deadline is tested against
    the scheduler in tests/test_batch_rest.py."""
    dag = parse_dag(DagId.BATCH)
    dag.deadline = None
    return dag


def _twenty_rows(engine: Engine, prefix: str) -> None:
    for index, script in enumerate(SCRIPTS):
        _insert(engine, f"{prefix}ok{index:02}", script=script, priority=index % 3, submitted_by="dana")
    for name, (fields, _, _) in INVALID.items():
        _insert(engine, f"{prefix}{name}", submitted_by="writer@example.com", **fields)


def _statuses(engine: Engine, prefix: str) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM video.requests WHERE request_key LIKE :p"), {"p": f"{prefix}%"}
        ).mappings()
        return {row["request_key"].removeprefix(prefix): dict(row) for row in rows}


def _video_runs(prefix: str, *, by: str | None = None) -> list[str]:
    """The video runs a batch triggered for the prefix's rows, by run id (or in the order of another column)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun.run_id).filter(
            DagRun.dag_id == DagId.VIDEO, DagRun.run_id.like(f"video__{prefix}%")
        )
        if by is not None:
            return [run_id for (run_id,) in runs.order_by(getattr(DagRun, by))]
        return sorted(run_id for (run_id,) in runs)


def _mails(site: AirflowSite, needle: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted((site.data_dir / "outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if needle in message.get_body(("plain",)).get_content():  # type: ignore[union-attr]
            found.append(message)
    return found  # type: ignore[return-value]


def test_twenty_one_rows_six_invalid_become_fifteen_runs_once_in_priority_order_even_when_run_twice(
    batch_db: Engine, airflow_site: AirflowSite, forget_triggered_runs: list[str]
) -> None:
    prefix = f"b{secrets.token_hex(3)}-"
    forget_triggered_runs.append(prefix)
    _twenty_rows(batch_db, prefix)
    _insert(batch_db, f"{prefix}later", script="Not tonight.", scheduled_for=NIGHT + dt.timedelta(days=3))

    first = _batch_dag().test(logical_date=NIGHT, mark_success_pattern="wait_for_videos")
    assert first.state == "success"

    rows = _statuses(batch_db, prefix)
    assert rows["later"]["status"] == "pending"  # scheduled for a later night: not claimed
    for name, (_, field, message) in INVALID.items():
        row = rows[name]
        assert row["status"] == "rejected", name
        assert any(r["field"] == field and message in r["message"] for r in row["reject_reasons"]), row
    assert rows["same-script"]["reject_reasons"][0]["message"].endswith(f"{prefix}ok00 in this batch")
    valid = {key: row for key, row in rows.items() if key.startswith("ok")}
    assert {row["status"] for row in valid.values()} == {"queued"}
    night = "20261126"
    assert _video_runs(prefix) == sorted(trigger_run_id(f"{prefix}{key}", night) for key in valid)
    assert all(row["dag_run_id"] == trigger_run_id(f"{prefix}{key}", night) for key, row in valid.items())

    # past the limit of videos at once, Airflow starts queued runs by run_after: higher priority first, then older
    started = [run.removeprefix(f"video__{prefix}").split("__")[0] for run in _video_runs(prefix, by="run_after")]
    assert started == sorted(valid, key=lambda key: (-valid[key]["priority"], valid[key]["id"]))

    # the submitter of the rejected rows gets one email listing all six, with the reasons
    [rejection] = _mails(airflow_site, f"{prefix}bad-voice")[:1]
    body = rejection.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert rejection["To"] == "writer@example.com"
    assert all(f"({prefix}{name})" in body for name in INVALID)
    assert "xx-klingon" in body and "give a script or a topic" in body
    # the ops summary counts the outcomes and links the stored validation result
    [summary] = [m for m in _mails(airflow_site, f"({prefix}no-text)") if "Validation result" in m.as_string()]
    text_part = summary.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert summary["Subject"].startswith("Nightly batch: ")
    assert "15 queued" in text_part and "6 rejected" in text_part
    validation = airflow_site.data_dir / "storage" / "batches"
    assert list(validation.glob("*/validation.json"))

    # the same night again, with the valid rows back in the table (as after a stale claim): nothing new starts
    with batch_db.begin() as conn:
        conn.execute(
            text("UPDATE video.requests SET status = 'pending' WHERE request_key LIKE :p AND status = 'queued'"),
            {"p": f"{prefix}%"},
        )
    second = _batch_dag().test(logical_date=NIGHT + dt.timedelta(minutes=30), mark_success_pattern="wait_for_videos")
    assert second.state == "success"
    assert len(_video_runs(prefix)) == 15
    skipped = [ti for ti in second.get_task_instances() if ti.task_id == "trigger"]
    assert len(skipped) == 15 and {ti.state for ti in skipped} == {"skipped"}


def test_two_batches_claiming_at_once_get_disjoint_rows_and_a_retry_gets_its_own_back(batch_db: Engine) -> None:
    prefix = f"c{secrets.token_hex(3)}-"
    for index in range(40):
        _insert(batch_db, f"{prefix}{index:02}", script=f"Fact number {index}.", priority=index % 5)
    got: dict[str, list[str]] = {}
    start = threading.Barrier(2)

    def take(batch: str) -> None:
        start.wait()
        got[batch] = [row.request_key for row in claim(batch_db, batch_run_id=batch, due_by=NIGHT, limit=25)]

    threads = [threading.Thread(target=take, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(got["one"]) & set(got["two"])
    assert sorted(got["one"] + got["two"]) == sorted(f"{prefix}{i:02}" for i in range(40))
    assert {len(got["one"]), len(got["two"])} == {25, 15}
    # a retried claim gets back the rows its batch holds, in the same order (highest priority first)
    again = [row.request_key for row in claim(batch_db, batch_run_id="one", due_by=NIGHT, limit=25)]
    assert again == got["one"]
    priorities = [row.priority for row in claim(batch_db, batch_run_id="one", due_by=NIGHT, limit=25)]
    assert priorities == sorted(priorities, reverse=True)


def test_a_stale_claim_of_a_batch_that_is_gone_returns_to_pending(batch_db: Engine) -> None:
    prefix = f"s{secrets.token_hex(3)}-"
    for name in ("dead", "alive"):
        _insert(batch_db, f"{prefix}{name}")
        claim(batch_db, batch_run_id=f"{prefix}run-{name}", due_by=NIGHT, limit=1)
    with batch_db.begin() as conn:
        conn.execute(text("UPDATE video.requests SET claimed_at = now() - interval '7 hours'"))
    released = release_stale(
        batch_db, older_than=dt.timedelta(hours=6), run_is_active=lambda run: run.endswith("alive")
    )
    assert released == [f"{prefix}dead"]
    assert claim(batch_db, batch_run_id="next", due_by=NIGHT, limit=5)[0].request_key == f"{prefix}dead"


def test_a_batch_larger_than_airflow_maps_is_refused_with_the_setting_to_change(batch_db: Engine) -> None:
    with pytest.raises(ValueError, match="VIDEO_BATCH_SIZE"):
        claim(batch_db, batch_run_id="big", due_by=NIGHT, limit=1025)


def test_the_batch_dag_is_scheduled_nightly_with_one_active_run_and_a_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIDEO_BATCH_SCHEDULE", "30 2 * * *")
    monkeypatch.setenv("VIDEO_BATCH_TIMEZONE", "Europe/Berlin")
    dag = parse_dag(DagId.BATCH)
    assert dag.max_active_runs == 1 and not dag.catchup
    assert dag.timetable.summary == "30 2 * * *" and str(dag.timetable._timezone) == "Europe/Berlin"
    monkeypatch.setenv("VIDEO_BATCH_SCHEDULE", "none")
    assert type(parse_dag(DagId.BATCH).timetable).__name__ == "NullTimetable"  # triggered only
    assert [task.task_id for task in dag.topological_sort()] == [
        "claim",
        "validate",
        "trigger",
        "wait_for_videos",
        "summarize",
    ]
    assert dag.get_task("wait_for_videos").mode == "reschedule"
    [alert] = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert alert.interval == dt.timedelta(hours=6)


def test_video_tasks_run_in_the_pools_the_settings_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    monkeypatch.setenv("VIDEO_MAX_ACTIVE_VIDEOS", "3")
    dag = parse_dag()
    assert dag.max_active_runs == 3
    pools = {task.task_id: task.pool for task in dag.tasks}
    assert (pools["script"], pools["media"], pools["voice"], pools["render"]) == (
        "video_scripts",
        "video_images",
        "video_voices",
        "video_render",
    )
    with create_session() as session:  # made by `python -m video_factory.pools` after the migration
        slots = {pool.pool: pool.slots for pool in session.query(Pool)}
    assert {name: slots[name] for name in set(pools.values()) - {"default_pool"}} == {
        "video_scripts": 2,
        "video_images": 4,
        "video_voices": 4,
        "video_render": 2,
    }


def test_the_deadline_alert_lists_the_unfinished_videos_and_mails_nobody_when_none_is(
    batch_db: Engine, airflow_site: AirflowSite
) -> None:
    from video_factory.batch import _alert_unfinished

    prefix = f"late{secrets.token_hex(3)}-"
    batch = f"batch-{prefix}"
    _insert(batch_db, f"{prefix}slow", script="A slow one.")
    _insert(batch_db, f"{prefix}done", script="A quick one.")
    with batch_db.begin() as conn:
        conn.execute(
            text("UPDATE video.requests SET batch_run_id = :b, status = 'running' WHERE request_key = :k"),
            {"b": batch, "k": f"{prefix}slow"},
        )
        conn.execute(
            text("UPDATE video.requests SET batch_run_id = :b, status = 'completed' WHERE request_key = :k"),
            {"b": batch, "k": f"{prefix}done"},
        )
    _alert_unfinished(batch)
    [late] = _mails(airflow_site, f"({prefix}slow)")
    assert late["Subject"] == "Nightly batch late: 1 video(s) not finished"
    assert f"({prefix}done)" not in late.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # a batch whose every video has finished (or, on a fresh start, that claimed nothing yet): no email
    before = len(list((airflow_site.data_dir / "outbox").glob("*.eml")))
    _alert_unfinished(f"batch-{prefix}-nothing-claimed")
    assert len(list((airflow_site.data_dir / "outbox").glob("*.eml"))) == before


def test_runs_start_in_the_claims_order_a_millisecond_apart_all_in_the_past() -> None:
    from pipeline.batch import start_order

    now = dt.datetime(2026, 12, 6, 1, 0, tzinfo=dt.UTC)
    starts = start_order(5, now=now)
    assert starts == sorted(starts) and len(set(starts)) == 5 and starts[-1] < now
    assert all(b - a == dt.timedelta(milliseconds=1) for a, b in itertools.pairwise(starts))
