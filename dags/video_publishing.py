"""Publishing: every finished video version goes to each destination of its channel, exactly once.

Scheduled on the ``rendered_videos`` Asset: each event the production DAG's ``publish`` emits (a project and a
language) becomes one mapped ``send`` per destination of the video's channel, with its own retries (backing off,
honouring ``Retry-After``; a refusal such as a wrong secret fails at once with the reason). Each send is recorded
in ``video.publications`` (pending, uploading, live, failed) under an idempotency key of its own: a retry, a
re-run or a second event for the same version sends nothing twice (docs/publishing.md). Triggered by hand with
``{"project_id": N, "language": ""}`` it sends that version (again, where not yet live).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

from pipeline.config import load_settings
from pipeline.constants import DagId
from video_factory.errors import ProviderRetryPolicy

log = logging.getLogger(__name__)
SETTINGS = load_settings()
RENDERED_VIDEOS = Asset(name="rendered_videos")  # the production DAG's outlet


@dag(
    dag_id=DagId.PUBLISHING.value,
    schedule=[RENDERED_VIDEOS],
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["video-factory"],
    params={
        "project_id": Param(None, type=["null", "integer"], minimum=1, title="Project (by hand only)"),
        "language": Param("", type="string", maxLength=12, title="Language version (empty: the original)"),
    },
    default_args={
        "retries": SETTINGS.retries + 2,
        "retry_delay": dt.timedelta(seconds=SETTINGS.retry_delay_s),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(seconds=SETTINGS.max_retry_delay_s),
        "retry_policy": ProviderRetryPolicy(max_delay_s=SETTINGS.max_retry_delay_s),
    },
)
def video_publishing() -> None:
    @task
    def destinations() -> list[dict[str, Any]]:
        """One entry per (version, destination of its channel) the triggering events (or the params) name."""
        from pipeline.publish.targets import publication_targets
        from video_factory.connections import video_repository

        context = get_current_context()
        versions = [
            (int(event.extra["project_id"]), str(event.extra.get("language", "")))
            for events in context["triggering_asset_events"].values()
            for event in events
            if event.extra and "project_id" in event.extra
        ]
        params = context["params"]
        if not versions and params.get("project_id"):
            versions = [(int(params["project_id"]), str(params.get("language") or ""))]
        targets = publication_targets(video_repository().engine, versions)
        log.info("%d version(s), %d destination(s) to send to", len(versions), len(targets))
        return targets

    @task(map_index_template="{{ destination_label }}")
    def send(target: dict[str, Any]) -> dict[str, Any]:
        """Send the version to one destination (a webhook: signed JSON with short-lived links)."""
        from pipeline.errors import PipelineError
        from pipeline.publish import publish_webhook
        from pipeline.publish.metadata import video_metadata
        from video_factory.connections import api_key, storage, video_repository

        context = get_current_context()
        context["destination_label"] = f"{target['destination']} {target['language'] or 'original'}"  # type: ignore[typeddict-unknown-key]
        engine = video_repository().engine
        video = video_metadata(engine, storage(SETTINGS), project_id=target["project_id"], language=target["language"])
        try:
            done = publish_webhook(
                engine,
                project_id=target["project_id"],
                language=target["language"],
                destination=target["destination"],
                url=target["url"],
                secret=api_key(target["connection"]).key.encode(),
                video=video,
            )
        except PipelineError as exc:
            if not exc.retryable or context["ti"].try_number > (context["task"].retries or 0):  # no try left
                _tell_failed(target, video.title, exc.message)
            raise
        log.info("%s: %s (%s)", target["destination"], done.status, done.external_id or "no id given")
        return {"destination": target["destination"], "status": done.status, "external_id": done.external_id}

    send.expand(target=destinations())


def _tell_failed(target: dict[str, Any], title: str, reason: str) -> None:
    """One mail to the request's recipients: which destination, why, and how to send it again."""
    from pipeline.notify import build_message, publishing_failure_email
    from video_factory.notifiers import send_email
    from video_factory.runs import run_url

    context = get_current_context()
    again = json.dumps({"project_id": target["project_id"], "language": target["language"]})
    fix = (
        f"Check its URL and the secret in the Airflow connection {target['connection']}, then trigger "
        f"{DagId.PUBLISHING.value} with {again}."
    )
    content = publishing_failure_email(
        title=title,
        destination=target["destination"],
        version=target["language"] or "original",
        reason=reason,
        fix=fix,
        run_url=run_url(DagId.PUBLISHING.value, context["run_id"]),
    )
    recipients = target.get("notify_emails") or []
    if recipients:
        message = build_message(content, sender=SETTINGS.email.email_from, recipients=recipients)
        log.info("told %s by %s", ", ".join(recipients), send_email(message, recipients, SETTINGS))


video_publishing()
