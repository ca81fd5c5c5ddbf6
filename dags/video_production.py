"""
### video_production: one narrated video per run

`register → script → review → translate → media[scene] / voice[scene × language] → render[language] →
publish[language]`

`script` writes (or takes) the script and splits it into scenes. `review` waits for an editor only when the
request asks for it (`review`, or `VIDEO_BATCH_REVIEW` for batch rows): approve, edit the script (split again) or
reject it (the project ends `rejected`, nothing paid for); otherwise it lets the scenes through at once. `render`
builds the version's render spec and renders it; `publish` holds the render's facts to the request, records and
publishes it. (Each task instance costs the stack about a second of CPU: steps nobody watches on their own are
parts of their neighbours; docs/benchmarks.md, "Orchestration CPU".)

Each mapped `media` / `voice` instance is one scene (labelled with its number and keywords). Assets are stored
under content-addressed keys, so retries and re-runs never pay for the same image or narration twice. The
project's status is kept in the `video` schema; an email goes out when the video is ready or has failed.
The trigger form is generated from the request model (`include/pipeline/request.py`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import Asset, dag, get_current_context, task

from pipeline.commands import work_cpu
from pipeline.config import current_settings
from pipeline.constants import DagId
from video_factory.callbacks import record_run_failure, record_task_failure
from video_factory.errors import ProviderRetryPolicy
from video_factory.notifiers import VideoOutcomeNotifier
from video_factory.params import request_params
from video_factory.pools import IMAGE_POOL, RENDER_POOL, SCRIPT_POOL, VOICE_POOL
from video_factory.prebuilt import dag_of
from video_factory.review import ScriptReview
from video_factory.task import VideoTask, describe_call

log = logging.getLogger(__name__)
SETTINGS = current_settings()  # read once per process while the environment is unchanged
RENDERED_VIDEOS = Asset(name="rendered_videos")  # no URI scheme: Airflow then loads no provider to parse it


@dag(
    dag_id=DagId.VIDEO.value,
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    params=request_params(),
    doc_md=__doc__,
    tags=["video-factory"],
    max_active_runs=SETTINGS.batch.max_active_videos,
    default_args={
        "retries": SETTINGS.retries,
        "retry_delay": dt.timedelta(seconds=SETTINGS.retry_delay_s),
        "retry_exponential_backoff": 2.0,  # a multiplier in Airflow 3.3: 20 s, 40 s, 80 s, ...
        "max_retry_delay": dt.timedelta(seconds=SETTINGS.max_retry_delay_s),
        "on_failure_callback": record_task_failure,
        "retry_policy": ProviderRetryPolicy(max_delay_s=SETTINGS.max_retry_delay_s),  # honours Retry-After
    },
    on_success_callback=VideoOutcomeNotifier(outcome="success"),
    # the project is marked failed first (when no task's callback did), then the email reads it
    on_failure_callback=[record_run_failure, VideoOutcomeNotifier(outcome="failure")],
)
def video_production() -> None:
    # a task returning a dict would push each key as an XCom of its own as well (Airflow infers multiple_outputs
    # from the annotation): one Execution API call per key, per task instance; every reader takes the whole value
    @task(multiple_outputs=False)
    def register() -> dict[str, Any]:
        """Check the request, record its project (`processing`) and decide how it is made, before any paid call."""
        return VideoTask.current().register().model_dump(mode="json")

    @task(pool=SCRIPT_POOL, multiple_outputs=False)
    def script(job: dict[str, Any]) -> dict[str, Any]:
        """The request's own script, or one generated from its topic (once per distinct topic), split into scenes
        of bounded length with keywords (the list the media and voice tasks are mapped over)."""
        from pipeline.assets import make_script
        from pipeline.production import Job, scenes_of
        from pipeline.segment import segment_script

        env, work = VideoTask.current(), Job.model_validate(job)
        written, call = make_script(
            work.request,
            provider=env.script_provider(work.script_source),
            storage=env.storage,
            lock=env.repository.content_lock,
            on_failed_call=env.ledger(work.project_id),
        )
        env.repository.save_script(work.project_id, script=written, call=call, dag_run_id=env.run_id)
        scenes = segment_script(
            written.body,
            max_words=env.settings.max_scene_words,
            max_scenes=env.settings.max_scenes,
            visuals=written.visuals,
        )
        env.repository.save_scenes(work.project_id, scenes)
        log.info("Script split into %d scenes", len(scenes))
        drafted = [scene.model_dump(mode="json") for scene in scenes_of(work, scenes)]
        return {"script": written.model_dump(mode="json"), "scenes": drafted}

    @task
    def translate(job: dict[str, Any], scenes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every version of the video: the script's own, then each other language's, translated scene by scene
        with its title (once per distinct text and language), spoken by that language's voice. The voices are
        mapped over versions × scenes, the render over versions."""
        from pipeline.models import Scene
        from pipeline.production import Job, given_translation, versions_of
        from pipeline.translate import translate_video

        env, work = VideoTask.current(), Job.model_validate(job)
        own = [Scene.model_validate(scene) for scene in scenes]
        translations: dict[str, tuple[str, tuple[str, ...]]] = {}
        for language in work.versions:
            given = (work.request.translated_scripts or {}).get(language)
            if given is not None:  # translated by the requester: split like the script, scene for scene
                translations[language] = (
                    work.request.title,
                    given_translation(given, len(own), language, env.settings),
                )
                continue
            done, call = translate_video(
                title=work.request.title,
                texts=[scene.text for scene in own],
                language=language,
                translator=env.translator(),
                storage=env.storage,
                lock=env.repository.content_lock,
                on_failed_call=env.ledger(work.project_id),
            )
            env.repository.record_call(work.project_id, None, call, dag_run_id=env.run_id)
            log.info("%s: %s (%s)", language, done.title, "cached" if call.cached else f"{call.units:g} tokens")
            translations[language] = (done.title, done.texts)
        return [version.model_dump(mode="json") for version in versions_of(work, translations)]

    @task(map_index_template="{{ scene_label }}", max_active_tis_per_dagrun=4, pool=IMAGE_POOL, multiple_outputs=False)
    def media(scene: dict[str, Any]) -> dict[str, Any]:
        """The scene's picture: the team's library, stock footage, the image provider, in the request's order (from
        storage when it was found or made before)."""
        env = VideoTask.current()
        item = env.label_scene(scene)
        with work_cpu(f"media {item.index}"):
            asset, calls = env.scene_media(item)
        env.repository.save_media(item.project_id, asset, calls, dag_run_id=env.run_id)
        for call in calls:
            log.info(describe_call(item, call))
        if asset.credit:
            log.info("scene %d: %s", item.index + 1, asset.credit)
        return asset.model_dump(mode="json")

    @task(map_index_template="{{ scene_label }}", max_active_tis_per_dagrun=4, pool=VOICE_POOL, multiple_outputs=False)
    def voice(version: dict[str, Any], scene: dict[str, Any]) -> dict[str, Any]:
        """The scene's narration in the version's language and word timings (from storage when they were made
        before)."""
        from pipeline.assets import narrate_scene

        env = VideoTask.current()
        item = env.label_scene(scene, version)
        with work_cpu(f"voice {item.index}"):
            asset, call = narrate_scene(item, provider=env.voice_provider(item.voice_provider), **env.making(item))
        env.repository.save_audio(item.project_id, asset, call, dag_run_id=env.run_id)
        log.info(describe_call(item, call))
        return asset.model_dump(mode="json")

    @task
    def render_spec(
        job: dict[str, Any],
        images: list[dict[str, Any]],
        narrations: list[dict[str, Any]],
        versions: list[dict[str, Any]],
    ) -> list[str]:
        """(Render pods only.) Every version's render spec, stored where its pod reads it."""
        from pipeline.production import Job

        env, work = VideoTask.current(), Job.model_validate(job)
        return [env.store_version_spec(work, images, narrations, version) for version in versions]

    @task(
        pool=RENDER_POOL,
        queue=SETTINGS.batch.render_queue,
        map_index_template="{{ version_label }}",
        multiple_outputs=False,
    )
    def render(
        job: dict[str, Any],
        images: list[dict[str, Any]],
        narrations: list[dict[str, Any]],
        version: dict[str, Any],
    ) -> dict[str, Any]:
        """The version's render spec (each scene's picture and its narration in that language, the request's look
        and sound, the channel's watermark, intro and outro), stored, then ``python -m pipeline.render --spec
        KEY`` as a local process group (the pod runs the same entry point); one mapped instance per language
        version. This try becomes the version's render attempt, so an older try's late result is never
        published."""
        from pipeline.production import Job
        from pipeline.render.runner import render_in_subprocess
        from video_factory.connections import render_environment

        env, work, language = VideoTask.current(), Job.model_validate(job), version["language"]
        env.label_version(language)
        spec_location = env.store_version_spec(work, images, narrations, version)
        env.repository.claim_render(work.project_id, dag_run_id=env.run_id, attempt=env.try_number, language=language)
        with work_cpu(f"render {language or 'original'}"):
            result = render_in_subprocess(
                spec_location,
                work_dir=env.settings.work_dir,
                timeout_s=env.settings.render_timeout_s,
                extra_env=render_environment(env.settings),
                run_name=f"{env.run_id}.{language}" if language else env.run_id,  # each version its own scratch
                attempt=env.try_number,
            )
        log.info("Rendered %s (%.2f s)", result.video_url, result.facts.duration_s)
        return result.model_dump(mode="json")

    @task(outlets=[RENDERED_VIDEOS], map_index_template="{{ version_label }}", multiple_outputs=False)
    def publish(job: dict[str, Any], rendered: dict[str, Any]) -> dict[str, Any]:
        """The facts the render measured, held to what the request asked for (no second download) and recorded;
        then the version's render marked published (the project `completed` with its last version, each of the
        channel's destinations queued) and announced as an Asset event."""
        from pipeline.models import RenderResult
        from pipeline.production import Job, check_render

        env, work, result = VideoTask.current(), Job.model_validate(job), RenderResult.model_validate(rendered)
        env.label_version(result.language)
        check_render(work, result)
        env.repository.save_render(result, dag_run_id=env.run_id)
        env.repository.publish(
            result.project_id, dag_run_id=env.run_id, language=result.language, versions=work.languages
        )
        event = get_current_context()["outlet_events"][RENDERED_VIDEOS]
        event.extra = {"project_id": result.project_id, "video_url": result.video_url, "language": result.language}
        return {"video_url": result.video_url, "duration_s": result.facts.duration_s, "language": result.language}

    job = register()
    written = script(job)
    review = ScriptReview(task_id="review", timeout_s=SETTINGS.batch.review_timeout_s)
    written >> review
    scenes = review.output  # the scenes the editor let through (or, unasked, as the script was split)
    versions = translate(job, scenes)
    # every version's narration of every scene (versions outer: a version's scenes are listed together); pictures
    # once for all versions
    images, narrations = media.expand(scene=scenes), voice.expand(version=versions, scene=scenes)
    if SETTINGS.kubernetes.render_backend == "kubernetes":
        from video_factory.render_pod import mapped_render_pods

        specs = render_spec(job, images, narrations, versions)
        rendered = mapped_render_pods(
            SETTINGS, task_id="render", pool=RENDER_POOL, queue=SETTINGS.batch.render_queue, spec_keys=specs
        ).output
    else:
        rendered = render.partial(job=job, images=images, narrations=narrations).expand(version=versions)
    publish.partial(job=job).expand(rendered=rendered)


VIDEO_PRODUCTION_DAG = dag_of(__file__, video_production)  # built once where task processes are forked from
