"""Publishing: every finished video version goes to each destination of its channel, exactly once.

Scheduled on the ``rendered_videos`` Asset: each event the production DAG's ``publish`` emits (a project and a
language) becomes one mapped ``send`` per destination of the video's channel (a CMS's webhook, a YouTube
channel), with its own retries (backing off, honouring ``Retry-After``; a refusal such as a wrong secret or
revoked YouTube credentials fails at once with the reason). Each send is recorded in ``video.publications``
(pending, uploading, scheduled, live, failed) under an idempotency key of its own: a retry, a re-run or a second
event for the same version sends nothing twice; a YouTube upload resumes where it stopped, and a channel's spent
YouTube quota reschedules the send for the next quota day (docs/publishing.md). Every 10 minutes a run also
sends what no event's run took (the outbox in ``video.publications``: a version's rows are written when it is
published). Triggered by hand with
``{"project_id": N, "language": ""}`` it sends that version (again, where not yet live).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, get_current_context, task

from pipeline.config import current_settings
from pipeline.constants import DagId
from video_factory.errors import ProviderRetryPolicy
from video_factory.prebuilt import dag_of

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from pipeline.publish.metadata import PublishedVersion
    from pipeline.publish.store import Publication
    from pipeline.publish.webhook import VideoMetadata
    from pipeline.storage import Storage

log = logging.getLogger(__name__)
SETTINGS = current_settings()  # read once per process while the environment is unchanged
RENDERED_VIDEOS = Asset(name="rendered_videos")  # the production DAG's outlet


@dag(
    dag_id=DagId.PUBLISHING.value,
    # each rendered_videos event, and every 10 minutes whatever an event's run did not take (targets.py)
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/10 * * * *", timezone="UTC"), assets=[RENDERED_VIDEOS]
    ),
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
        from pipeline.publish.targets import publication_targets, unsent_versions
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
        engine = video_repository().engine
        missed = [version for version in unsent_versions(engine) if version not in versions]
        if missed:
            log.info("%d version(s) no earlier run took: %s", len(missed), missed)
        targets = publication_targets(engine, [*versions, *missed])
        log.info("%d version(s), %d destination(s) to send to", len(versions), len(targets))
        return targets

    @task(map_index_template="{{ destination_label }}", multiple_outputs=False)  # one XCom, not one per key
    def send(target: dict[str, Any]) -> dict[str, Any]:
        """Send the version to one destination: a webhook (signed JSON with short-lived links) or YouTube (a
        resumable upload; a spent quota reschedules the task for the next quota day)."""
        from airflow.sdk.exceptions import AirflowRescheduleException

        from pipeline.errors import PipelineError
        from pipeline.publish.metadata import published_version
        from pipeline.publish.youtube import QuotaDeferred
        from video_factory.connections import storage, video_repository

        context = get_current_context()
        context["destination_label"] = f"{target['destination']} {target['language'] or 'original'}"  # type: ignore[typeddict-unknown-key]
        engine = video_repository().engine
        files = storage(SETTINGS)
        version = published_version(engine, files, project_id=target["project_id"], language=target["language"])
        try:
            if target["kind"] == "youtube":
                done = _to_youtube(engine, files, target, version)
            else:
                done = _to_webhook(engine, target, version.metadata)
        except QuotaDeferred as exc:
            log.warning("%s", exc.message)
            raise AirflowRescheduleException(reschedule_date=exc.until) from None
        except PipelineError as exc:
            if not exc.retryable or context["ti"].try_number > (context["task"].retries or 0):  # no try left
                _tell_failed(target, version.metadata.title, exc.message)
            raise
        log.info("%s: %s (%s)", target["destination"], done.status, done.external_id or "no id given")
        return {"destination": target["destination"], "status": done.status, "external_id": done.external_id}

    send.expand(target=destinations())


def _to_webhook(engine: Engine, target: dict[str, Any], video: VideoMetadata) -> Publication:
    from pipeline.publish import publish_webhook
    from video_factory.connections import api_key

    return publish_webhook(
        engine,
        project_id=target["project_id"],
        language=target["language"],
        destination=target["destination"],
        url=target["url"],
        secret=api_key(target["connection"]).key.encode(),
        video=video,
    )


def _to_youtube(engine: Engine, files: Storage, target: dict[str, Any], version: PublishedVersion) -> Publication:
    from pipeline.channels import YouTubeDestination
    from pipeline.publish.youtube import publish_youtube, youtube_service
    from video_factory.connections import youtube_account

    return publish_youtube(
        engine,
        youtube_service(youtube_account(target["connection"])),
        channel=target["channel"],
        project_id=target["project_id"],
        language=target["language"],
        destination=YouTubeDestination.model_validate(target["settings"]),
        video=version.metadata,
        video_file=files.local_path(version.video_key),
        thumbnail=files.local_path(version.thumbnail_key) if version.thumbnail_key else None,
    )


def _tell_failed(target: dict[str, Any], title: str, reason: str) -> None:
    """One mail to the request's recipients: which destination, why, and how to send it again."""
    from pipeline.notify import build_message, publishing_failure_email
    from video_factory.notifiers import send_email
    from video_factory.runs import run_url

    context = get_current_context()
    again = json.dumps({"project_id": target["project_id"], "language": target["language"]})
    if "reconnect the channel" in reason:
        fix = (
            f"Reconnect the channel: videoctl channel connect {target.get('channel', 'CHANNEL')} (README.md, "
            f"'Publishing to YouTube'), then trigger {DagId.PUBLISHING.value} with {again}."
        )
    elif target["kind"] == "youtube":
        fix = f"Fix what YouTube names, then trigger {DagId.PUBLISHING.value} with {again}."
    else:
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


VIDEO_PUBLISHING_DAG = dag_of(__file__, video_publishing)  # built once where task processes are forked from
