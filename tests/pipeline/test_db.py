"""The schema and repository against a real PostgreSQL."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from pipeline.assets import ProviderCall
from pipeline.db import VideoRepository, connect, upgrade
from pipeline.errors import NotOwner
from pipeline.models import AudioAsset, MediaAsset, OutputFacts, RenderResult, WordTiming
from pipeline.request import VideoRequest
from pipeline.segment import SceneText

TABLES = {
    "requests",
    "projects",
    "scripts",
    "scenes",
    "media_assets",
    "audio_assets",
    "rendered_videos",
    "provider_calls",
    "notifications",
    "audit_log",
    "music_tracks",
    "library_items",
    "channels",
    "publications",
    "quota_uses",
    "alembic_version",
}


def _request(**overrides: object) -> VideoRequest:
    values: dict[str, object] = {
        "request_id": f"req-{secrets.token_hex(4)}",
        "title": "Harbour",
        "script": "One. Two.",
        "notify_emails": ["a@example.com"],
    }
    values.update(overrides)
    return VideoRequest.model_validate(values)


def _scenes(n: int) -> list[SceneText]:
    return [SceneText(index=i, text=f"Scene {i}.", keywords=(f"k{i}",), visual_prompt=f"p{i}") for i in range(n)]


def _call(cached: bool = False) -> ProviderCall:
    return ProviderCall(
        provider="espeak",
        model="m",
        operation="speech",
        content_hash="h",
        units=0 if cached else 10,
        unit_kind="characters",
        cached=cached,
        duration_ms=5,
        outcome="cached" if cached else "ok",
    )


def test_migrations_create_the_schema_and_are_repeatable(fresh_database: URL) -> None:
    url = fresh_database.render_as_string(hide_password=False)
    upgrade(url)
    upgrade(url)  # already at head: no error, no change
    engine = connect(url)
    assert set(inspect(engine).get_table_names(schema="video")) == TABLES
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM video.alembic_version")).scalar_one() == "0014"
    engine.dispose()


def test_migration_0003_marks_old_cache_hits_and_guards_the_ledger(fresh_database: URL) -> None:
    url = fresh_database.render_as_string(hide_password=False)
    upgrade(url, "0002")
    engine = connect(url)
    insert = (
        "INSERT INTO video.provider_calls (provider, model, operation, content_hash, units, unit_kind, cached,"
        " duration_ms, outcome) VALUES ('polly', 'neural', 'speech', 'h', :u, 'characters', :c, 1, :o)"
    )
    with engine.begin() as conn:
        conn.execute(text(insert), [{"u": 40, "c": False, "o": "ok"}, {"u": 0, "c": True, "o": "ok"}])
    upgrade(url)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT cached, outcome FROM video.provider_calls ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(False, "ok"), (True, "cached")]
    for bad in ({"u": 0, "c": False, "o": "maybe"}, {"u": 0, "c": True, "o": "ok"}):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(insert), bad)
    engine.dispose()


def test_register_is_idempotent_one_project_per_request(
    repository: VideoRepository, count_rows: Callable[..., int]
) -> None:
    request = _request()
    first = repository.register(request, dag_run_id="run-1")
    assert repository.register(request, dag_run_id="run-1") == first  # a retry of register
    again = repository.register(
        request.model_copy(update={"title": "Harbour v2"}), dag_run_id="run-2", run_is_active=lambda _: False
    )  # run-1 ended without a video: run-2 takes the project over
    assert again.project_id == first.project_id and again.made_by("run-2")
    first = first.project_id
    assert count_rows("requests", "request_key = :k", k=request.request_id) == 1
    assert count_rows("projects", "id = :p AND title = 'Harbour v2' AND dag_run_id = 'run-2'", p=first) == 1
    summary = repository.project_summary(request.request_id)
    assert summary is not None and summary.status == "processing"
    assert summary.notify_emails == ["a@example.com"]


def test_scenes_upsert_and_shrink_with_the_script(repository: VideoRepository, count_rows: Callable[..., int]) -> None:
    project = repository.register(_request(), dag_run_id="r").project_id
    repository.save_scenes(project, _scenes(5))
    repository.save_scenes(project, _scenes(5))
    assert count_rows("scenes", "project_id = :p", p=project) == 5
    repository.save_scenes(project, _scenes(3))
    assert count_rows("scenes", "project_id = :p", p=project) == 3


def test_database_refuses_a_second_scene_with_the_same_index(repository: VideoRepository, video_engine: Engine) -> None:
    project = repository.register(_request(), dag_run_id="r").project_id
    repository.save_scenes(project, _scenes(1))
    with pytest.raises(IntegrityError, match="scenes_one_per_index"), video_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO video.scenes (project_id, scene_index, text, keywords, visual_prompt)"
                " VALUES (:p, 0, 'dup', '[]', 'x')"
            ),
            {"p": project},
        )


def test_assets_are_recorded_once_and_every_call_is_in_the_ledger(
    repository: VideoRepository, count_rows: Callable[..., int]
) -> None:
    project = repository.register(_request(), dag_run_id="r").project_id
    repository.save_scenes(project, _scenes(1))
    media = MediaAsset(
        scene_index=0, content_hash="abc", storage_key="media/ab/abc.png", provider="p", width=1, height=1, cached=False
    )
    audio = AudioAsset(
        scene_index=0,
        content_hash="def",
        storage_key="audio/de/def.wav",
        provider="espeak",
        voice="en-us",
        duration_s=1.5,
        words=(WordTiming(word="One.", start_s=0, end_s=0.5),),
        timings_estimated=True,
        cached=False,
    )
    for cached in (False, True):
        repository.save_media(project, media, _call(cached), dag_run_id="r")
        repository.save_audio(project, audio, _call(cached), dag_run_id="r")
    assert count_rows("media_assets", "scene_id IN (SELECT id FROM video.scenes WHERE project_id = :p)", p=project) == 1
    assert count_rows("audio_assets", "scene_id IN (SELECT id FROM video.scenes WHERE project_id = :p)", p=project) == 1
    assert count_rows("provider_calls", "project_id = :p AND cached", p=project) == 2
    assert count_rows("provider_calls", "project_id = :p AND NOT cached", p=project) == 2


def test_asset_for_an_unknown_scene_writes_nothing(repository: VideoRepository, count_rows: Callable[..., int]) -> None:
    project = repository.register(_request(), dag_run_id="r").project_id
    media = MediaAsset(scene_index=9, content_hash="x", storage_key="k", provider="p", width=1, height=1, cached=False)
    with pytest.raises(LookupError, match="no scene 9"):
        repository.save_media(project, media, _call(), dag_run_id="r")
    assert count_rows("provider_calls", "project_id = :p", p=project) == 0  # same transaction, rolled back


def test_publish_and_failure_keep_project_and_request_status_together(
    repository: VideoRepository, count_rows: Callable[..., int]
) -> None:
    request = _request()
    project = repository.register(request, dag_run_id="run-1").project_id
    result = _result(project)
    with pytest.raises(LookupError, match="no rendered video"):
        repository.publish(project, dag_run_id="run-1")
    repository.save_render(result, dag_run_id="run-1")
    repository.save_render(result, dag_run_id="run-1")
    repository.publish(project, dag_run_id="run-1")
    assert count_rows("rendered_videos", "project_id = :p AND published", p=project) == 1
    assert count_rows("requests", "request_key = :k AND status = 'completed'", k=request.request_id) == 1
    summary = repository.project_summary(request.request_id)
    assert summary is not None and summary.status == "completed"
    assert summary.video is not None and summary.video["video_url"] == "file:///v.mp4"

    assert not repository.register(request, dag_run_id="run-2").made_by("run-2")  # done: not made again
    assert repository.register(request.model_copy(update={"rerender": True}), dag_run_id="run-2").made_by("run-2")
    assert repository.mark_failed(request.request_id, task_id="render", error="x", dag_run_id="run-1") is None
    assert (
        repository.mark_failed(request.request_id, task_id="render", error="boom " * 2000, dag_run_id="run-2")
        == project
    )
    summary = repository.project_summary(request.request_id)
    assert summary is not None
    assert (summary.status, summary.failed_task) == ("failed", "render")
    assert summary.error is not None and len(summary.error) == 4000
    assert count_rows("requests", "request_key = :k AND status = 'failed'", k=request.request_id) == 1
    assert repository.mark_failed("never-registered", task_id="register", error="x", dag_run_id="r") is None


def test_an_email_outcome_is_claimed_once(repository: VideoRepository) -> None:
    claim = repository.claim_notification
    assert claim("r1", dag_run_id="run", outcome="failure", fingerprint="run|failure|register|bad voice")
    assert not claim("r1", dag_run_id="run", outcome="failure", fingerprint="run|failure|register|bad voice")
    assert claim("r1", dag_run_id="run", outcome="failure", fingerprint="run|failure|render|ffmpeg crashed")
    repository.release_notification("run|failure|render|ffmpeg crashed")  # not sent: may be claimed again
    assert claim("r1", dag_run_id="run", outcome="failure", fingerprint="run|failure|render|ffmpeg crashed")


def _result(project_id: int, attempt: int = 1) -> RenderResult:
    facts = OutputFacts(
        duration_s=3.0,
        width=1280,
        height=720,
        video_codec="h264",
        audio_codec="aac",
        video_streams=1,
        audio_streams=1,
        subtitle_streams=0,
        size_bytes=100,
        faststart=True,
    )
    return RenderResult(
        project_id=project_id,
        video_key="v.mp4",
        subtitles_key="v.srt",
        video_url="file:///v.mp4",
        facts=facts,
        expected_duration_s=3.0,
        attempt=attempt,
    )


def test_fifty_concurrent_runs_of_one_request_agree_on_one_owner(
    repository: VideoRepository, count_rows: Callable[..., int]
) -> None:
    request = _request()
    barrier = threading.Barrier(50)

    def register(n: int) -> str:
        barrier.wait()  # all 50 transactions start together
        return repository.register(request, dag_run_id=f"run-{n}").owner

    with ThreadPoolExecutor(max_workers=50) as pool:
        owners = set(pool.map(register, range(50)))
    assert len(owners) == 1
    # the database is shared with the other tests (some own a project as run-2 too): count this request's only
    this_request = "request_id = (SELECT id FROM video.requests WHERE request_key = :k)"
    assert count_rows("projects", this_request, k=request.request_id) == 1
    assert (
        count_rows(
            "projects",
            f"{this_request} AND dag_run_id = :r AND status = 'processing'",
            k=request.request_id,
            r=owners.pop(),
        )
        == 1
    )
    assert count_rows("requests", "request_key = :k", k=request.request_id) == 1


def test_only_the_owner_and_its_newest_render_attempt_publish(repository: VideoRepository) -> None:
    request = _request()
    project = repository.register(request, dag_run_id="run-1").project_id
    repository.claim_render(project, dag_run_id="run-1", attempt=1)
    repository.claim_render(project, dag_run_id="run-1", attempt=2)  # attempt 1's worker died
    with pytest.raises(NotOwner, match="attempt 1 of run run-1 is not the newest"):
        repository.save_render(_result(project, attempt=1), dag_run_id="run-1")  # the orphan, finishing late
    with pytest.raises(NotOwner):
        repository.claim_render(project, dag_run_id="run-2", attempt=3)  # not the owner
    repository.save_render(_result(project, attempt=2), dag_run_id="run-1")
    with pytest.raises(NotOwner, match="run-2 no longer owns"):
        repository.publish(project, dag_run_id="run-2")
    repository.publish(project, dag_run_id="run-1")
    summary = repository.project_summary(request.request_id)
    assert summary is not None and (summary.status, summary.dag_run_id) == ("completed", "run-1")
    # a later run of the same request (a re-render) counts its attempts from 1 again
    rerun = repository.register(request.model_copy(update={"rerender": True}), dag_run_id="run-3")
    assert rerun.project_id == project
    repository.claim_render(project, dag_run_id="run-3", attempt=1)
    repository.save_render(_result(project, attempt=1), dag_run_id="run-3")
