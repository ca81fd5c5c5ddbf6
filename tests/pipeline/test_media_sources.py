"""A scene's picture from its media sources: the team's library (PostgreSQL, real files checked by Pillow and
ffprobe), Pexels through its REST API on a loopback stand-in serving real clips and photos, then the image
provider and a title card. Each source is asked once per distinct question: a second scene, retry or video with
the same keywords makes no request."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from pipeline.assets import ProviderCall
from pipeline.config import Settings
from pipeline.errors import InvalidRequest, ProviderError
from pipeline.images import ProceduralImages, StabilityImages
from pipeline.images.pexels import LICENCE, PexelsStock
from pipeline.library import add_item, list_items, make_sample_footage, pick_items, remove_item, split_tags
from pipeline.media import make_scene_media, stock_queries
from pipeline.models import Scene
from pipeline.production import with_library_picks
from pipeline.render.probe import ffprobe
from pipeline.storage import open_storage
from tests.stubs import Fail


def _scene(index: int = 0, keywords: tuple[str, ...] = ("harbour", "boats"), **overrides: Any) -> Scene:
    values: dict[str, Any] = {
        "project_id": 1,
        "index": index,
        "text": "Boats leave the harbour at dawn.",
        "keywords": keywords,
        "visual_prompt": "fishing boats leaving a harbour at dawn",
        "width": 1280,
        "height": 720,
        "voice": "en-us",
        "title": "Harbour",
        "media_sources": ("pexels",),
    }
    values.update(overrides)
    return Scene(**values)


@pytest.fixture
def stock(pexels_stub: Any, settings: Settings) -> PexelsStock:
    return PexelsStock(api_key="px-test", base_url=pexels_stub.url, storage=open_storage(settings), per_page=5)


def _media(
    scene: Scene, settings: Settings, stock: PexelsStock | None, **kwargs: Any
) -> tuple[Any, list[ProviderCall]]:
    return make_scene_media(
        scene,
        provider=kwargs.pop("provider", ProceduralImages()),
        storage=open_storage(settings),
        work_dir=settings.work_dir,
        stock=stock,
        **kwargs,
    )


def test_a_scene_gets_stock_footage_in_the_frame_s_orientation_with_its_credit(
    stock: PexelsStock, pexels_stub: Any, settings: Settings
) -> None:
    asset, calls = _media(_scene(), settings, stock)
    assert (asset.kind, asset.provider, asset.cached) == ("video", "pexels", False)
    (search,) = pexels_stub.searches()
    assert search["path"] == "/videos/search" and search["authorization"] == "px-test"
    assert search["query"] == {"query": "harbour boats", "orientation": "landscape", "per_page": "5", "page": "1"}
    # the first result (Pexels' relevance order); its rendition nearest the frame from above: 1280x720 of 1920x1080
    assert asset.credit == "Video by Ana Costa on Pexels: https://www.pexels.com/video/stub-101/"
    assert asset.licence == LICENCE
    assert pexels_stub.downloads == ["/files/video/1011.mp4"]
    data = ffprobe(open_storage(settings).local_path(asset.storage_key), ffprobe_bin="ffprobe", timeout_s=30)
    assert data["streams"][0]["codec_name"] == "h264"
    assert [(c.provider, c.operation, c.units, c.unit_kind, c.cached) for c in calls] == [
        ("pexels", "stock_search", 1, "requests", False)
    ]


def test_the_same_keywords_again_ask_pexels_nothing(stock: PexelsStock, pexels_stub: Any, settings: Settings) -> None:
    first, _ = _media(_scene(index=0), settings, stock)
    again, calls = _media(_scene(index=0, project_id=2), settings, stock)  # another video, the same scene
    assert again.storage_key == first.storage_key and again.cached
    assert [(c.cached, c.units, c.outcome) for c in calls] == [(True, 0, "cached")]
    assert len(pexels_stub.searches()) == 1 and len(pexels_stub.downloads) == 1
    # the next scene with the same keywords takes the next result: one video does not show one clip twice
    other, _ = _media(_scene(index=1), settings, stock)
    assert other.storage_key != first.storage_key and len(pexels_stub.searches()) == 1


def test_a_vertical_frame_asks_for_portrait_footage(stock: PexelsStock, pexels_stub: Any, settings: Settings) -> None:
    asset, _ = _media(_scene(width=720, height=1280), settings, stock)
    assert pexels_stub.searches()[0]["query"]["orientation"] == "portrait"
    assert asset.credit is not None and "Dara Okafor" in asset.credit
    assert pexels_stub.downloads == ["/files/video/2011.mp4"]  # 1080x1920 / 1.5: the smallest of at least 720 wide


def test_no_footage_falls_back_to_a_photo_then_to_the_image_provider(
    stock: PexelsStock, pexels_stub: Any, settings: Settings
) -> None:
    photo, calls = _media(_scene(keywords=("lighthouse",)), settings, stock)
    assert (photo.kind, photo.credit) == (
        "image",
        "Photo by Fay Moreau on Pexels: https://www.pexels.com/photo/stub-301/",
    )
    assert [s["path"] for s in pexels_stub.searches()] == ["/videos/search", "/v1/search"]
    assert open_storage(settings).local_path(photo.storage_key).read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    # a clip shorter than two seconds is not used; nothing else matches: the title card
    card, calls = _media(_scene(keywords=("gull", "wings")), settings, stock)
    assert (card.provider, card.kind, card.credit) == ("procedural", "image", None)
    assert [c.operation for c in calls] == ["stock_search"] * 3 + ["image"]
    assert stock_queries(_scene(keywords=("gull", "wings"))) == [
        ("video", "gull wings"),
        ("video", "gull"),
        ("image", "gull wings"),
    ]


def test_a_rate_limit_is_retryable_after_pexels_reset_and_written_to_the_ledger(
    stock: PexelsStock, pexels_stub: Any, settings: Settings
) -> None:
    pexels_stub.plan(Fail(429))
    failed: list[ProviderCall] = []
    with pytest.raises(ProviderError) as raised:
        _media(_scene(), settings, stock, on_failed_call=failed.append)
    assert raised.value.retryable and raised.value.retry_after == pytest.approx(42, abs=3)
    assert "HTTP 429" in raised.value.message
    assert [(c.provider, c.outcome) for c in failed] == [("pexels", "error_retryable")]
    pexels_stub.plan(Fail(401, body={"error": "invalid key"}))
    with pytest.raises(ProviderError) as raised:
        _media(_scene(keywords=("market",)), settings, stock)
    assert not raised.value.retryable and "invalid key" in raised.value.message
    asset, _ = _media(_scene(), settings, stock)  # the retry
    assert asset.provider == "pexels"


def test_a_filtered_stability_prompt_gets_a_title_card(stability_stub: Any, settings: Settings) -> None:
    stability = StabilityImages(api_key="sk-test", base_url=stability_stub.url)
    stability_stub.filter_next = True
    failed: list[ProviderCall] = []
    asset, calls = _media(
        _scene(media_sources=()),
        settings,
        None,
        provider=stability,
        fallback=ProceduralImages(),
        on_failed_call=failed.append,
    )
    assert (asset.provider, asset.kind) == ("procedural", "image")
    assert [c.provider for c in calls] == ["procedural"]
    assert [(c.provider, c.outcome) for c in failed] == [
        ("stability", "error_final")
    ]  # the refused call, in the ledger
    assert len(stability_stub.requests) == 1


def _library_key_count(settings: Settings) -> int:
    folder = settings.storage_root / "library"
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def test_the_library_takes_images_and_clips_and_refuses_what_is_not_one(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    storage = open_storage(settings)
    footage = make_sample_footage(tmp_path / "footage", width=320, height=180, seconds=2)
    for path, tags in footage:
        add_item(engine, storage, path, name=path.name, tags=tags, licence="CC0 1.0", added_by="ana")
    still = tmp_path / "quay.jpg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=400x300", "-frames:v", "1", str(still)], check=True
    )
    add_item(
        engine, storage, still, name="quay.jpg", tags=split_tags("quay, harbour wall"), licence="own", added_by="bo"
    )
    items = {item.name: item for item in list_items(engine)}
    assert items["sea-swell.mp4"].kind == "video" and items["sea-swell.mp4"].duration_s == pytest.approx(2, abs=0.1)
    assert (items["quay.jpg"].kind, items["quay.jpg"].width, items["quay.jpg"].tags) == (
        "image",
        400,
        ("quay", "harbour wall"),
    )
    stored = _library_key_count(settings)
    assert stored == 5

    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video at all")
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(footage[0][0].read_bytes()[:600])
    broken_image = tmp_path / "broken.png"
    broken_image.write_bytes(still.read_bytes()[:0] + b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    refusals = {
        "fake.mp4": (fake, ["sea"], "own", "not an image or a video"),
        "cut.mp4": (truncated, ["sea"], "own", "not an image or a video|decoded whole|s long"),
        "broken.png": (broken_image, ["sea"], "own", "image cannot be read whole|not an image or a video"),
        "notes.txt": (still, ["sea"], "own", "is an image or a video file"),
        "quay2.jpg": (still, [], "own", "at least one tag"),
        "quay3.jpg": (still, ["sea"], "  ", "under which licence"),
    }
    for name, (path, tags, licence, reason) in refusals.items():
        with pytest.raises(InvalidRequest, match=reason):
            add_item(engine, storage, path, name=name, tags=tags, licence=licence, added_by="eve")
    assert _library_key_count(settings) == stored and len(list_items(engine)) == 5  # nothing stored, nothing listed
    assert remove_item(engine, "quay.jpg") and not remove_item(engine, "quay.jpg")


def test_scenes_are_matched_by_stems_and_no_item_is_shown_twice_while_another_fits(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    storage = open_storage(settings)
    for path, tags in make_sample_footage(tmp_path / "footage", width=160, height=90, seconds=1.5):
        add_item(engine, storage, path, name=path.name, tags=tags, licence="CC0 1.0", added_by="ana")
    items = list_items(engine)
    scenes = [
        (("harbours", "boats"), "the harbour at dawn"),  # sea-swell (stems: harbour, boat)
        (("harbour",), "waves on the quay"),  # sea-swell again? no: it is taken and nothing else fits -> again
        (("sunset", "lighthouse"), "the lighthouse"),  # sunset-sky
        (("accountants",), "a spreadsheet"),  # nothing
        (("trees", "sky"), "a forest under the evening sky"),  # forest-green beats sunset-sky (used)
    ]
    picked = [item.name if item else None for item in pick_items(scenes, items)]
    assert picked == ["sea-swell.mp4", "sea-swell.mp4", "sunset-sky.mp4", None, "forest-green.mp4"]

    video = [
        _scene(index=i, keywords=k, visual_prompt=p, media_sources=("library", "pexels"))
        for i, (k, p) in enumerate(scenes)
    ]
    with_picks = with_library_picks(video, items)
    assert [s.library_pick.name if s.library_pick else None for s in with_picks] == picked
    asset, calls = _media(with_picks[2], settings, None)
    assert (asset.provider, asset.kind, asset.storage_key) == (
        "library",
        "video",
        with_picks[2].library_pick.storage_key,
    )  # type: ignore[union-attr]
    assert asset.credit == "sunset-sky.mp4 (team library)" and asset.licence == "CC0 1.0"
    assert [(c.provider, c.units, c.cached) for c in calls] == [("library", 0, True)]
    # without the library among the sources, no pick is made
    assert all(
        s.library_pick is None
        for s in with_library_picks([s.model_copy(update={"media_sources": ("pexels",)}) for s in video], items)
    )
