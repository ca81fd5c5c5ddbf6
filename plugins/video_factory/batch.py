"""The nightly batch's plumbing around ``pipeline.batch``: its time, its emails, its summary, its deadline alert."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pipeline.config import Settings, load_settings
from pipeline.constants import DagId, RequestStatus
from pipeline.names import safe_name
from video_factory.runs import run_url

if TYPE_CHECKING:  # the DAG file imports this module: the database layer is imported by the tasks only
    from pipeline.batch import BatchSummary

log = logging.getLogger(__name__)
BATCH_DAG, VIDEO_DAG = DagId.BATCH.value, DagId.VIDEO.value  # as Airflow takes them: plain strings
EMAIL_ADDRESS = "@"


def due_by(dag_run: Any) -> datetime:
    """The batch's time: its logical date (a scheduled night) or, for a manual run without one, when it ran."""
    return dag_run.logical_date or dag_run.run_after


def night_of(moment: datetime, settings: Settings) -> str:
    """``20261126``: the batch's night in its time zone (a second batch run the same night shares it)."""
    return moment.astimezone(ZoneInfo(settings.batch.batch_timezone)).strftime("%Y%m%d")


def validation_key(batch_run_id: str) -> str:
    return f"batches/{safe_name(batch_run_id, limit=120, fallback='batch')}/validation.json"


def store_validation(storage: Any, batch_run_id: str, result: dict[str, Any]) -> str:
    key = validation_key(batch_run_id)
    storage.put_bytes(key, json.dumps(result, indent=1, default=str).encode())
    return key


def email_rejections(
    rows: list[dict[str, Any]], rejected: dict[int, list[dict[str, str]]], *, batch_run_id: str, settings: Settings
) -> int:
    """One email per submitter listing their rejected rows and why (sent once per batch run and submitter).
    A submitter that is an address gets it; otherwise the rows' notify addresses, else the ops address."""
    from pipeline.batch import reasons_text
    from pipeline.notify import build_message, listing_email
    from video_factory.connections import video_repository
    from video_factory.notifiers import send_email

    by_recipient: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for row in rows:
        reasons = rejected.get(int(row["id"]))
        if not reasons:
            continue
        submitter = row.get("submitted_by") or ""
        recipients = (
            (submitter,) if EMAIL_ADDRESS in submitter else tuple(row["notify_emails"]) or tuple(_ops(settings))
        )
        by_recipient[recipients].append(f"{row['title']} ({row['request_key']}): {reasons_text(reasons)}")
    repository = video_repository()
    for recipients, items in by_recipient.items():
        fingerprint = hashlib.sha256(
            "\0".join([batch_run_id, RequestStatus.REJECTED, *recipients]).encode()
        ).hexdigest()
        if not repository.claim_notification(
            f"batch:{batch_run_id}", dag_run_id=batch_run_id, outcome="failure", fingerprint=fingerprint
        ):
            continue
        content = listing_email(
            f"{len(items)} video request(s) rejected by the nightly batch",
            "These requests were not made. Fix them and put them in the table again (videoctl enqueue/import):",
            items,
            [("Batch run", run_url(BATCH_DAG, batch_run_id))],
            links=frozenset({"Batch run"}),
        )
        message = build_message(content, sender=settings.email.email_from, recipients=list(recipients))
        try:
            send_email(message, list(recipients), settings)
        except Exception:
            repository.release_notification(fingerprint)
            raise
    return len(by_recipient)


def summarize(batch_run_id: str, *, started: datetime | None, ended: datetime, settings: Settings) -> BatchSummary:
    """The batch's outcome from the request table, its projects and the cost ledger."""
    from pipeline.batch import BatchSummary, batch_rows
    from pipeline.costs import ledger_rows, report
    from video_factory.connections import video_repository

    engine = video_repository().engine
    rows = batch_rows(engine, batch_run_id)
    keys = [row["request_key"] for row in rows if row["status"] != RequestStatus.REJECTED]
    cost = report(ledger_rows(engine, request_keys=keys), settings)["batch_usd"] if keys else 0.0
    wall = (ended - started).total_seconds() if started else 0.0
    return BatchSummary.of(batch_run_id, rows, wall_s=wall, cost_usd=cost, validation_key=validation_key(batch_run_id))


def email_summary(summary: BatchSummary, settings: Settings, storage: Any) -> None:
    from pipeline.batch import reasons_text
    from pipeline.notify import build_message, listing_email
    from video_factory.notifiers import send_email

    items = [
        *(
            f"rejected: {item['title']} ({item['request_key']}): {reasons_text(item['reasons'])}"
            for item in summary.rejected
        ),
        *(f"failed: {item['title']} ({item['request_key']}): {item['error']}" for item in summary.failed),
    ]
    facts = [
        *((status.capitalize(), str(count)) for status, count in sorted(summary.counts.items())),
        ("Minutes of video", f"{summary.video_minutes:g}"),
        ("Wall time", f"{summary.wall_s / 60:.1f} min"),
        ("Provider cost", f"${summary.cost_usd:.4f} (estimated)"),
        ("Validation result", storage.location(summary.validation_key) if summary.validation_key else ""),
        ("Batch run", run_url(BATCH_DAG, summary.batch_run_id)),
    ]
    content = listing_email(
        f"Nightly batch: {', '.join(f'{n} {s}' for s, n in sorted(summary.counts.items())) or 'nothing due'}",
        summary.line() if items else summary.line() + " Nothing was rejected or failed.",
        items,
        facts,
        links=frozenset({"Batch run"}),  # the validation result's location is text: no presigned link in a mail
    )
    recipients = _ops(settings)
    send_email(build_message(content, sender=settings.email.email_from, recipients=recipients), recipients, settings)


async def unfinished_videos_alert(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """The batch's deadline passed: email ops the videos it has not finished (runs in the triggerer)."""
    import asyncio

    await asyncio.to_thread(_alert_unfinished, _run_id_of(context or {}, kwargs))


def _alert_unfinished(batch_run_id: str | None) -> None:
    from pipeline.batch import batch_rows, unfinished
    from pipeline.notify import build_message, listing_email
    from video_factory.connections import video_repository
    from video_factory.notifiers import send_email

    settings = load_settings()
    if batch_run_id is None:
        log.warning("deadline alert without a batch run id: nothing to report")
        return
    late = unfinished(batch_rows(video_repository().engine, batch_run_id))
    if not late:  # e.g. a first start, whose catch-up batch passed its deadline before it ran: nobody waits
        log.info("batch %s passed its deadline with nothing unfinished: no alert", batch_run_id)
        return
    items = [f"{row['title']} ({row['request_key']}): {row['status']}, run {row['dag_run_id'] or '-'}" for row in late]
    content = listing_email(
        f"Nightly batch late: {len(late)} video(s) not finished",
        f"The batch {batch_run_id} passed its deadline with these videos unfinished:",
        items,
        [("Batch run", run_url(BATCH_DAG, batch_run_id))],
        links=frozenset({"Batch run"}),
    )
    recipients = _ops(settings)
    send_email(build_message(content, sender=settings.email.email_from, recipients=recipients), recipients, settings)
    log.warning("deadline missed by batch %s: %d unfinished, ops emailed", batch_run_id, len(late))


def _run_id_of(context: dict[str, Any], kwargs: dict[str, Any]) -> str | None:
    """The batch run's id from the deadline callback's context: the scheduler sends the run as the REST API's
    DAGRunResponse, a dict with ``dag_run_id``."""
    dag_run = context.get("dag_run") or kwargs.get("dag_run")
    if isinstance(dag_run, dict):
        return dag_run.get("dag_run_id") or dag_run.get("run_id")
    return getattr(dag_run, "run_id", None) or kwargs.get("run_id")


def _ops(settings: Settings) -> list[str]:
    return settings.batch.ops_emails or [settings.email.email_default_to]
