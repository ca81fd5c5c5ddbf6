"""The Videos page's queries against a real PostgreSQL: filters, paging, costs, one project in full, deleting
a project without touching the files another project shares, sending a request back to the batch."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text

from interface.catalog import VideoFilter, delete_video, file_key, list_videos, video_detail
from pipeline.assets import ProviderCall
from pipeline.config import Settings
from pipeline.db import VideoRepository
from pipeline.db.queue import requeue
from pipeline.models import AudioAsset, MediaAsset, OutputFacts, RenderResult, WordTiming
from pipeline.request import VideoRequest
from pipeline.segment import SceneText
from pipeline.storage import open_storage


def _call(provider: str = "stability", units: float = 3, unit_kind: str = "credits") -> ProviderCall:
    return ProviderCall(
        provider=provider,
        model="core",
        operation="image",
        content_hash=secrets.token_hex(4),
        units=units,
        unit_kind=unit_kind,
        cached=False,
        duration_ms=5,
        outcome="ok",
    )


def _project(
    repository: VideoRepository, title: str, *, scenes: int = 2, image_keys: list[str] | None = None
) -> tuple[str, int]:
    key = f"cat-{secrets.token_hex(4)}"
    request = VideoRequest.model_validate({"request_id": key, "title": title, "script": "One. Two."})
    project = repository.register(request, dag_run_id=f"video__{key}").project_id
    repository.save_scenes(
        project, [SceneText(index=i, text=f"Scene {i}.", keywords=(f"k{i}",), visual_prompt="p") for i in range(scenes)]
    )
    for i in range(scenes):
        image = (image_keys or [])[i] if image_keys and i < len(image_keys) else f"media/{key}/{i}.png"
        repository.save_media(
            project,
            MediaAsset(
                scene_index=i,
                content_hash=image,
                storage_key=image,
                provider="stability",
                width=8,
                height=8,
                cached=False,
            ),
            _call(),
            dag_run_id=f"video__{key}",
        )
        repository.save_audio(
            project,
            AudioAsset(
                scene_index=i,
                content_hash=f"a{key}{i}",
                storage_key=f"audio/{key}/{i}.wav",
                provider="espeak",
                voice="en-us",
                duration_s=1.0,
                words=(WordTiming(word="One.", start_s=0, end_s=0.5),),
                timings_estimated=True,
                cached=False,
            ),
            _call("espeak", 10, "characters"),
            dag_run_id=f"video__{key}",
        )
    return key, project


@pytest.fixture
def titled(repository: VideoRepository) -> Callable[..., tuple[str, int]]:
    marker = secrets.token_hex(3)

    def make(title: str, **kwargs: object) -> tuple[str, int]:
        return _project(repository, f"{title} {marker}", **kwargs)  # type: ignore[arg-type]

    make.marker = marker  # type: ignore[attr-defined]
    return make


def test_the_list_filters_searches_pages_and_prices(
    titled: Callable[..., tuple[str, int]], video_engine: Engine, settings: Settings, repository: VideoRepository
) -> None:
    marker = titled.marker  # type: ignore[attr-defined]
    keys = [titled(f"Harbour {n}")[0] for n in range(3)] + [titled("Mountain")[0]]
    repository.mark_failed(keys[0], task_id="render", error="ffmpeg ran out of memory", dag_run_id=f"video__{keys[0]}")
    everything = list_videos(video_engine, settings, VideoFilter(search=marker), per_page=10)
    assert everything["total"] == 4
    assert [item["request_key"] for item in everything["items"]] == keys[::-1]  # newest first
    harbour = list_videos(video_engine, settings, VideoFilter(search="harbour%"), per_page=10)  # % is literal
    assert harbour["total"] == 0
    harbour = list_videos(video_engine, settings, VideoFilter(search=f"HARBOUR 1 {marker}"), per_page=10)
    assert [item["request_key"] for item in harbour["items"]] == [keys[1]]
    failed = list_videos(video_engine, settings, VideoFilter(status="failed", search=marker), per_page=10)
    (row,) = failed["items"]
    assert (row["request_key"], row["failed_task"], row["error"]) == (keys[0], "render", "ffmpeg ran out of memory")
    assert row["scene_count"] == 2
    # 2 images of 3 credits at $0.01 each; espeak is free
    assert row["cost_usd"] == pytest.approx(2 * 3 * settings.prices.price_stability_per_credit)
    second = list_videos(video_engine, settings, VideoFilter(search=marker), page=2, per_page=10)
    assert second["items"] == [] and second["total"] == 4
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    assert list_videos(video_engine, settings, VideoFilter(since=later, search=marker))["total"] == 0
    assert list_videos(video_engine, settings, VideoFilter(until=later, search=marker))["total"] == 4
    with pytest.raises(ValueError, match="per_page"):
        list_videos(video_engine, settings, VideoFilter(), per_page=7)
    with pytest.raises(ValueError, match="status"):
        VideoFilter(status="exploded")


def test_the_list_of_a_batch(titled: Callable[..., tuple[str, int]], video_engine: Engine, settings: Settings) -> None:
    key, _ = titled("Batch film")
    titled("Other film")
    with video_engine.begin() as conn:
        conn.execute(text("UPDATE video.requests SET batch_run_id = 'night-1' WHERE request_key = :k"), {"k": key})
    found = list_videos(video_engine, settings, VideoFilter(batch="night-1"), per_page=100)
    assert [item["request_key"] for item in found["items"]] == [key]
    assert found["items"][0]["batch_run_id"] == "night-1"


def test_one_video_in_full(titled: Callable[..., tuple[str, int]], video_engine: Engine, settings: Settings) -> None:
    key, _ = titled("Detail", scenes=3)
    detail = video_detail(video_engine, settings, key)
    assert detail is not None
    assert [scene["scene_index"] for scene in detail["scenes"]] == [0, 1, 2]
    assert detail["scenes"][1]["image_key"] == f"media/{key}/1.png"
    assert detail["scenes"][1]["narration_key"] == f"audio/{key}/1.wav"
    assert detail["scenes"][1]["keywords"] == ["k1"]
    assert len(detail["ledger"]) == 6 and {line["provider"] for line in detail["ledger"]} == {"stability", "espeak"}
    assert detail["payload"]["title"].startswith("Detail")
    assert video_detail(video_engine, settings, "no-such-request") is None


def test_each_file_of_the_detail_view_by_name(
    titled: Callable[..., tuple[str, int]], video_engine: Engine, settings: Settings, repository: VideoRepository
) -> None:
    key, project = titled("Files", scenes=2)
    assert file_key(video_engine, key, "video") is None  # not rendered yet
    facts = OutputFacts(
        duration_s=2,
        width=1280,
        height=720,
        video_codec="h264",
        audio_codec="aac",
        video_streams=1,
        audio_streams=1,
        subtitle_streams=1,
        size_bytes=9,
        faststart=True,
    )
    for attempt in (1, 2):  # the newer attempt is published
        repository.claim_render(project, dag_run_id=f"video__{key}", attempt=attempt)
        result = RenderResult(
            project_id=project,
            video_key=f"videos/{key}/{attempt}.mp4",
            subtitles_key=f"videos/{key}/{attempt}.srt",
            thumbnail_key=f"videos/{key}/{attempt}.jpg",
            video_url="file:///v",
            facts=facts,
            expected_duration_s=2,
            attempt=attempt,
        )
        repository.save_render(result, dag_run_id=f"video__{key}")
    repository.publish(project, dag_run_id=f"video__{key}")
    detail = video_detail(video_engine, settings, key)
    assert detail is not None
    named = {
        "video": f"videos/{key}/2.mp4",
        "subtitles": f"videos/{key}/2.srt",
        "thumbnail": f"videos/{key}/2.jpg",
        "image-1": f"media/{key}/1.png",
        "narration-0": f"audio/{key}/0.wav",
    }
    for name, stored in named.items():
        assert file_key(video_engine, key, name) == stored
    # the same keys the detail view shows
    assert [detail["video_key"], detail["scenes"][1]["image_key"]] == [named["video"], named["image-1"]]
    for name in ("image-2", "narration-9", "image-x", "poster", "../../etc/passwd", "video-1"):
        assert file_key(video_engine, key, name) is None
    assert file_key(video_engine, "no-such-request", "video") is None


def test_delete_removes_the_rows_and_only_the_files_no_other_video_uses(
    titled: Callable[..., tuple[str, int]],
    video_engine: Engine,
    settings: Settings,
    count_rows: Callable[..., int],
) -> None:
    storage = open_storage(settings)
    shared = f"media/shared-{secrets.token_hex(3)}.png"
    doomed, doomed_id = titled("Doomed", image_keys=[shared])
    keeper, _ = titled("Keeper", image_keys=[shared])
    detail = video_detail(video_engine, settings, doomed)
    assert detail is not None
    files = [shared, f"media/{doomed}/1.png", f"audio/{doomed}/0.wav", f"audio/{doomed}/1.wav"]
    for key in files:
        storage.put_bytes(key, b"x")
    deleted = delete_video(video_engine, storage, doomed, actor="editor")
    assert deleted is not None
    assert sorted(deleted["files_removed"]) == sorted(files[1:]) and deleted["files_kept"] == [shared]
    assert storage.exists(shared) and not any(storage.exists(k) for k in files[1:])
    assert count_rows("requests", "request_key = :k", k=doomed) == 0
    assert count_rows("scenes", "project_id = :p", p=doomed_id) == 0
    assert count_rows("provider_calls", "project_id IS NULL AND dag_run_id = :r", r=f"video__{doomed}") == 4
    assert count_rows("audit_log", "request_key = :k AND action = 'delete' AND actor = 'editor'", k=doomed) == 1
    assert video_detail(video_engine, settings, keeper) is not None
    assert delete_video(video_engine, storage, doomed, actor="editor") is None  # twice: nothing more happens
    assert count_rows("audit_log", "request_key = :k", k=doomed) == 1


def test_a_failed_request_goes_back_to_the_batch_and_a_finished_one_is_re_rendered(
    titled: Callable[..., tuple[str, int]],
    video_engine: Engine,
    repository: VideoRepository,
    count_rows: Callable[..., int],
) -> None:
    failed, _ = titled("Failed")
    repository.mark_failed(failed, task_id="media", error="boom", dag_run_id=f"video__{failed}")
    assert requeue(video_engine, failed, actor="editor")
    assert count_rows(
        "requests", "request_key = :k AND status = 'pending' AND (payload->>'rerender')::boolean IS NOT TRUE", k=failed
    )
    running, _ = titled("Running")
    assert not requeue(video_engine, running, actor="editor")  # being made now
    assert not requeue(video_engine, "no-such-request", actor="editor")
    done, project = titled("Done")
    with video_engine.begin() as conn:
        conn.execute(text("UPDATE video.projects SET status = 'completed' WHERE id = :p"), {"p": project})
        conn.execute(text("UPDATE video.requests SET status = 'completed' WHERE request_key = :k"), {"k": done})
    assert requeue(video_engine, done, actor="editor")
    assert count_rows("requests", "request_key = :k AND (payload->>'rerender')::boolean", k=done)
    assert count_rows("audit_log", "action = 'requeue' AND request_key IN (:a, :b)", a=failed, b=done) == 2
