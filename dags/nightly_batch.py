"""
### nightly_batch: every due row of the request table becomes a video

`claim → validate → trigger[request] → wait_for_videos → summarize`

* **claim** takes the due `pending` rows of `video.requests` (no `scheduled_for`, or not after the batch's time),
  highest `priority` first, then oldest, up to `VIDEO_BATCH_SIZE`. Two batches never share a row; a retried claim
  gets back the rows it holds; a claim left by a batch that died returns to `pending` after
  `VIDEO_BATCH_STALE_CLAIM_S`.
* **validate** checks the rows with Great Expectations (rules generated from the request model, plus: a script or
  a topic, a known voice, music of the library, unique request ids, no script twice, nothing scheduled later).
  Rejected rows get status `rejected` and their reasons (`reject_reasons`); their submitters get one email
  listing them. The full validation result is stored (`batches/<run>/validation.json`) and linked from the
  summary.
* **trigger** starts one `video_production` run per valid row, labelled with its request id and title. Its run id
  comes from the request id and the night, so a second batch run the same night, or a cleared task, starts
  nothing twice. Each run's `run_after` follows the claim's order (Airflow starts queued runs by it), so
  past `VIDEO_MAX_ACTIVE_VIDEOS` the higher priority, then the older request, starts first. The row goes
  `queued` → `running` → `completed` or `failed` as its run proceeds.
* **wait_for_videos** looks at the runs every `VIDEO_BATCH_POKE_S` without holding a worker slot (reschedule).
* **summarize** counts the outcomes, minutes of video, wall time and provider cost: in its log, as this run's
  note, as an event of the `video_batches` asset and by email to `VIDEO_BATCH_OPS_EMAILS`.

Ops are emailed the unfinished videos if the batch is still going `VIDEO_BATCH_DEADLINE_S` after its time.
Pools `video_render`, `video_images`, `video_voices` and `video_scripts` cap the load on workers and providers.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Asset, dag, get_current_context, task
from airflow.sdk.bases.sensor import PokeReturnValue
from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference
from airflow.timetables.trigger import CronTriggerTimetable

from pipeline.config import current_settings, load_settings
from video_factory.batch import BATCH_DAG, VIDEO_DAG, unfinished_videos_alert
from video_factory.prebuilt import dag_of

log = logging.getLogger(__name__)
SETTINGS = current_settings()  # read once per process while the environment is unchanged
VIDEO_BATCHES = Asset(name="video_batches")
ENDED = frozenset({"success", "failed"})


@dag(
    dag_id=BATCH_DAG,
    schedule=None
    if SETTINGS.batch.batch_schedule.strip().lower() in {"", "none"}
    else CronTriggerTimetable(SETTINGS.batch.batch_schedule, timezone=SETTINGS.batch.batch_timezone),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["video-factory"],
    default_args={"retries": 2, "retry_delay": dt.timedelta(seconds=SETTINGS.retry_delay_s)},
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=dt.timedelta(seconds=SETTINGS.batch.batch_deadline_s),
        callback=AsyncCallback(unfinished_videos_alert),
    ),
)
def nightly_batch() -> None:
    @task
    def claim() -> list[dict[str, Any]]:
        """Take this night's due rows (a retry gets back the same rows); release claims of batches that died."""
        from pipeline.db.queue import claim as claim_rows
        from pipeline.db.queue import release_stale
        from video_factory.batch import due_by
        from video_factory.connections import video_repository
        from video_factory.task import run_is_active

        context, settings = get_current_context(), load_settings()
        engine = video_repository().engine
        released = release_stale(
            engine,
            older_than=dt.timedelta(seconds=settings.batch.batch_stale_claim_s),
            run_is_active=lambda run_id: run_is_active(BATCH_DAG, run_id),
        )
        if released:
            log.info("Returned %d stale claim(s) to pending: %s", len(released), ", ".join(released))
        rows = claim_rows(
            engine, batch_run_id=context["run_id"], due_by=due_by(context["dag_run"]), limit=settings.batch.batch_size
        )
        log.info("Claimed %d request(s)", len(rows))
        return [row.as_dict() for row in rows]

    @task
    def validate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Great Expectations over the claimed rows; rejected rows are marked and their submitters emailed.
        Returns one trigger per valid row."""
        from pipeline.batch import reasons_text, start_order, trigger_run_id
        from pipeline.batch_checks import validate_batch
        from pipeline.channels import list_channels
        from pipeline.db.queue import mark_checked
        from pipeline.markdown import literal
        from pipeline.music import track_names
        from pipeline.request import checked_request
        from video_factory.batch import due_by, email_rejections, night_of, store_validation
        from video_factory.connections import storage, video_repository
        from video_factory.providers import voice_provider

        context, settings = get_current_context(), load_settings()
        run_id, when = context["run_id"], due_by(context["dag_run"])
        verdict = validate_batch(
            rows,
            voices_of=lambda name: voice_provider(settings, name).voices(),
            default_voice_provider=settings.providers.voice_provider,
            due_by=when,
            known_music=track_names(video_repository().engine),
            channels={channel.name: channel.kit for channel in list_channels(video_repository().engine)},
            extra_problems=lambda row: checked_request(row["payload"], default_id=row["request_key"])[1],
        )
        store_validation(storage(settings), run_id, verdict.result)
        night = night_of(when, settings)
        passed = set(verdict.valid)
        valid = {row_id: row for row in rows if (row_id := int(row["id"])) in passed}
        queued = {row_id: trigger_run_id(row["request_key"], night) for row_id, row in valid.items()}
        mark_checked(video_repository().engine, batch_run_id=run_id, rejected=verdict.rejected, queued=queued)
        for row in rows:
            if int(row["id"]) in verdict.rejected:
                log.warning("Rejected %s: %s", row["request_key"], reasons_text(verdict.rejected[int(row["id"])]))
        if verdict.rejected:
            email_rejections(rows, verdict.rejected, batch_run_id=run_id, settings=settings)
        log.info("%d valid, %d rejected", len(valid), len(verdict.rejected))
        starts = start_order(len(valid), now=dt.datetime.now(dt.UTC))
        return [
            {
                "trigger_run_id": queued[row_id],
                "run_after": starts[rank].isoformat(),
                "note": literal(row["title"]),  # Airflow renders notes as Markdown: the title shows as written
                "conf": {
                    **row["payload"],
                    "request_id": row["request_key"],
                    "priority": row["priority"],
                    "review": bool(row["payload"].get("review")) or settings.batch.batch_review,
                },
            }
            for rank, (row_id, row) in enumerate(valid.items())
        ]

    triggers = validate(claim())
    trigger = TriggerDagRunOperator.partial(
        task_id="trigger",
        trigger_dag_id=VIDEO_DAG,
        logical_date=None,
        skip_when_already_exists=True,
        wait_for_completion=False,
        # request id (<= 100) and title (<= 200) may exceed Airflow's 250-character label column: cut to fit
        map_index_template="{{ (task.conf['request_id'] ~ ': ' ~ task.conf['title']) | truncate(240, True, '…', 0) }}",
    ).expand_kwargs(triggers)

    @task.sensor(
        mode="reschedule",
        poke_interval=SETTINGS.batch.batch_poke_s,
        timeout=SETTINGS.batch.batch_wait_s,
        trigger_rule="all_done",
    )
    def wait_for_videos(started: list[dict[str, Any]]) -> PokeReturnValue:
        """Done when every triggered run has ended (a worker slot is held only while it looks)."""
        from video_factory.task import run_state

        states = [run_state(VIDEO_DAG, item["trigger_run_id"]) for item in started]
        going = [state for state in states if state not in ENDED]
        log.info("%d of %d video run(s) still going", len(going), len(states))
        return PokeReturnValue(is_done=not going)

    @task(trigger_rule="all_done", outlets=[VIDEO_BATCHES], multiple_outputs=False)  # one XCom, not one per key
    def summarize() -> dict[str, Any]:
        """Counts by status, rejections, minutes of video, wall time and cost: logged, emailed, announced."""
        from video_factory.batch import email_summary
        from video_factory.batch import summarize as batch_summary
        from video_factory.connections import storage

        context, settings = get_current_context(), load_settings()
        summary = batch_summary(
            context["run_id"],
            started=context["dag_run"].start_date,
            ended=dt.datetime.now(dt.UTC),
            settings=settings,
        )
        log.info("%s", summary.line())
        email_summary(summary, settings, storage(settings))
        context["outlet_events"][VIDEO_BATCHES].extra = summary.as_dict()
        return summary.as_dict()

    waited = wait_for_videos(triggers)
    trigger >> waited >> summarize()


NIGHTLY_BATCH_DAG = dag_of(__file__, nightly_batch)  # built once where task processes are forked from
