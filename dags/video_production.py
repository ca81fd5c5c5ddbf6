"""
### video_production: one narrated video per run

`register → script → segment → review → reviewed → translate → media[scene] / voice[scene × language] →
render_spec → render[language] → check[language] → publish[language]`

`review` waits for an editor only when the request asks for it (`review`, or `VIDEO_BATCH_REVIEW` for batch
rows): approve, edit the script (split again) or reject it (the project ends `rejected`, nothing paid for).

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
from pipeline.config import load_settings
from pipeline.constants import DagId
from video_factory.callbacks import record_run_failure, record_task_failure
from video_factory.errors import ProviderRetryPolicy
from video_factory.notifiers import VideoOutcomeNotifier
from video_factory.params import request_params
from video_factory.pools import IMAGE_POOL, RENDER_POOL, SCRIPT_POOL, VOICE_POOL
from video_factory.review import ScriptReview
from video_factory.task import VideoTask, describe_call

log = logging.getLogger(__name__)
SETTINGS = load_settings()
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
    @task
    def register() -> dict[str, Any]:
        """Check the request, record its project (`processing`) and decide how it is made, before any paid call."""
        return VideoTask.current().register().model_dump(mode="json")

    @task(pool=SCRIPT_POOL)
    def script(job: dict[str, Any]) -> dict[str, Any]:
        """The request's own script, or one generated from its topic (once per distinct topic)."""
        from pipeline.assets import make_script
        from pipeline.production import Job

        env, work = VideoTask.current(), Job.model_validate(job)
        written, call = make_script(
            work.request,
            provider=env.script_provider(work.script_source),
            storage=env.storage,
            lock=env.repository.content_lock,
            on_failed_call=env.ledger(work.project_id),
        )
        env.repository.save_script(work.project_id, script=written, call=call, dag_run_id=env.run_id)
        return written.model_dump(mode="json")

    @task
    def segment(job: dict[str, Any], written: dict[str, Any]) -> list[dict[str, Any]]:
        """Scenes of bounded length with keywords; the list the media and voice tasks are mapped over."""
        from pipeline.production import Job, scenes_of
        from pipeline.scriptgen import Script
        from pipeline.segment import segment_script

        env, work, text = VideoTask.current(), Job.model_validate(job), Script.model_validate(written)
        scenes = segment_script(
            text.body,
            max_words=env.settings.max_scene_words,
            max_scenes=env.settings.max_scenes,
            visuals=text.visuals,
        )
        env.repository.save_scenes(work.project_id, scenes)
        log.info("Script split into %d scenes", len(scenes))
        return [scene.model_dump(mode="json") for scene in scenes_of(work, scenes)]

    @task
    def reviewed(
        job: dict[str, Any], written: dict[str, Any], drafted: list[dict[str, Any]], answer: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The scenes the editor let through: as drafted, split again from the edited script, or none (rejected:
        the project ends `rejected`, the rest of the run is skipped, nothing is paid for)."""
        from airflow.sdk.exceptions import AirflowSkipException

        from pipeline.models import Scene
        from pipeline.production import Job, review_scenes
        from pipeline.scriptgen import Script
        from video_factory.review import answer_of

        env = VideoTask.current()
        outcome = review_scenes(
            Job.model_validate(job),
            Script.model_validate(written),
            [Scene.model_validate(scene) for scene in drafted],
            answer_of(answer),
            repository=env.repository,
            settings=env.settings,
        )
        if outcome.rejected is not None:
            raise AirflowSkipException(f"Not made: {outcome.rejected}")
        if outcome.note:
            log.info("%s", outcome.note)
        scenes = env.with_library_picks(outcome.scenes)
        return [scene.model_dump(mode="json") for scene in scenes]

    @task
    def translate(job: dict[str, Any], scenes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every version's scenes to narrate: the script's own, then each other language's, translated scene by
        scene with its title (once per distinct text and language), spoken by that language's voice."""
        from pipeline.models import Scene
        from pipeline.production import Job, given_translation, translated_scenes
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
        return [scene.model_dump(mode="json") for scene in translated_scenes(work, own, translations)]

    @task(map_index_template="{{ scene_label }}", max_active_tis_per_dagrun=4, pool=IMAGE_POOL)
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

    @task(map_index_template="{{ scene_label }}", max_active_tis_per_dagrun=4, pool=VOICE_POOL)
    def voice(scene: dict[str, Any]) -> dict[str, Any]:
        """The scene's narration and word timings (from storage when they were made before)."""
        from pipeline.assets import narrate_scene

        env = VideoTask.current()
        item = env.label_scene(scene)
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
        """Per version: each scene's picture and its narration in that language with the request's look and
        sound, and the channel's watermark, intro and outro; stored as that version's render spec."""
        from pipeline.brand import branded
        from pipeline.models import AudioAsset, MediaAsset
        from pipeline.production import Job, render_spec_of, store_render_spec

        env, work = VideoTask.current(), Job.model_validate(job)
        pictures = [MediaAsset.model_validate(image) for image in images]
        voices = [AudioAsset.model_validate(narration) for narration in narrations]
        titles = {scene["language"]: scene["title"] for scene in versions}  # each version's (translated) title
        locations = []
        for language in work.languages:
            spec = render_spec_of(
                work, pictures, voices, fps=env.settings.fps, language=language, title=titles.get(language)
            )
            spec = branded(spec, work.brand, storage=env.storage, clip_key=env.library_clip)
            locations.append(store_render_spec(spec, work, env.storage))
        return locations

    @task(pool=RENDER_POOL, queue=SETTINGS.batch.render_queue, map_index_template="{{ version_label }}")
    def render(job: dict[str, Any], spec_location: str) -> dict[str, Any]:
        """``python -m pipeline.render --spec KEY`` as a local process group (the pod runs the same entry point),
        one mapped instance per language version; this try becomes the version's render attempt, so an older
        try's late result is never published."""
        from pipeline.production import Job
        from pipeline.render.runner import render_in_subprocess
        from video_factory.connections import render_environment

        env, work = VideoTask.current(), Job.model_validate(job)
        language = env.version_of(spec_location)
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

    @task(map_index_template="{{ version_label }}")
    def check(job: dict[str, Any], rendered: dict[str, Any]) -> dict[str, Any]:
        """The facts the render measured, held to what the request asked for (no second download); recorded."""
        from pipeline.models import RenderResult
        from pipeline.production import Job, check_render

        env, result = VideoTask.current(), RenderResult.model_validate(rendered)
        env.label_version(result.language)
        check_render(Job.model_validate(job), result)
        env.repository.save_render(result, dag_run_id=env.run_id)
        return rendered

    @task(outlets=[RENDERED_VIDEOS], map_index_template="{{ version_label }}")
    def publish(job: dict[str, Any], checked: dict[str, Any]) -> dict[str, Any]:
        """Mark the version's render published (the project `completed` with its last version); announce it as
        an Asset event."""
        from pipeline.models import RenderResult
        from pipeline.production import Job

        env, work, result = VideoTask.current(), Job.model_validate(job), RenderResult.model_validate(checked)
        env.label_version(result.language)
        env.repository.publish(
            result.project_id, dag_run_id=env.run_id, language=result.language, versions=work.languages
        )
        event = get_current_context()["outlet_events"][RENDERED_VIDEOS]
        event.extra = {"project_id": result.project_id, "video_url": result.video_url, "language": result.language}
        return {"video_url": result.video_url, "duration_s": result.facts.duration_s, "language": result.language}

    job = register()
    written = script(job)
    drafted = segment(job, written)
    review = ScriptReview(task_id="review", timeout_s=SETTINGS.batch.review_timeout_s)
    drafted >> review
    scenes = reviewed(job, written, drafted, review.output)
    versions = translate(job, scenes)
    specs = render_spec(job, media.expand(scene=scenes), voice.expand(scene=versions), versions)
    if SETTINGS.kubernetes.render_backend == "kubernetes":
        from video_factory.render_pod import mapped_render_pods

        rendered = mapped_render_pods(
            SETTINGS, task_id="render", pool=RENDER_POOL, queue=SETTINGS.batch.render_queue, spec_keys=specs
        ).output
    else:
        rendered = render.partial(job=job).expand(spec_location=specs)
    checked = check.partial(job=job).expand(rendered=rendered)
    publish.partial(job=job).expand(checked=checked)


video_production()
