"""Images and narration are made once per distinct input (real Pillow, real espeak-ng)."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pipeline.assets import make_scene_image, narrate_scene
from pipeline.config import Settings
from pipeline.errors import InvalidRequest, ProviderError
from pipeline.images import ProceduralImages, open_image_provider
from pipeline.images.procedural import card_background
from pipeline.models import Scene
from pipeline.storage import open_storage
from pipeline.voice import open_voice_provider


def _scene(index: int = 0, text: str = "The harbour wakes up slowly.", **overrides: object) -> Scene:
    values: dict[str, object] = {
        "project_id": 1,
        "index": index,
        "text": text,
        "keywords": ("harbour", "wakes"),
        "visual_prompt": "harbour, wakes. The harbour wakes up slowly.",
        "width": 1280,
        "height": 720,
        "voice": "en-us",
        "title": 'A <Harbour> & its "day"',
    }
    values.update(overrides)
    return Scene.model_validate(values)


def test_image_has_the_output_size_and_differs_per_scene(settings: Settings) -> None:
    storage = open_storage(settings)
    provider = open_image_provider(settings)
    first, call = make_scene_image(_scene(0), provider=provider, storage=storage, work_dir=settings.work_dir)
    second, _ = make_scene_image(
        _scene(1, visual_prompt="market, gulls. Gulls cry over the market.", keywords=("market", "gulls")),
        provider=provider,
        storage=storage,
        work_dir=settings.work_dir,
    )
    assert not call.cached and call.units == 1
    with (
        Image.open(storage.local_path(first.storage_key)) as a,
        Image.open(storage.local_path(second.storage_key)) as b,
    ):
        assert a.size == (1280, 720) == b.size
        assert a.tobytes() != b.tobytes()
    assert first.content_hash != second.content_hash


@pytest.mark.parametrize(("width", "height"), [(720, 1280), (1080, 1080)])
def test_image_honours_vertical_and_square_formats(settings: Settings, width: int, height: int) -> None:
    asset, _ = make_scene_image(
        _scene(width=width, height=height),
        provider=open_image_provider(settings),
        storage=open_storage(settings),
        work_dir=settings.work_dir,
    )
    with Image.open(open_storage(settings).local_path(asset.storage_key)) as image:
        assert image.size == (width, height)


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (720, 1280), (1080, 1080)])
def test_card_text_stays_where_ken_burns_never_crops(tmp_path: Path, width: int, height: int) -> None:
    title = "A very long title about the harbour, its boats and its people at every hour of the day"
    prompt = "harbour at dawn"
    ProceduralImages().generate(
        prompt=prompt,
        title=title,
        keywords=("harbour", "fishermen", "lighthouse"),
        scene_number=12,
        width=width,
        height=height,
        dest=tmp_path / "card.png",
    )
    background = card_background(title=title, prompt=prompt, width=width, height=height).convert("RGB")
    with Image.open(tmp_path / "card.png") as card:
        # 1 - 1/1.2 of each side may be cut by the deepest zoom anchored at that edge: no text may be there
        x, y = int(width * (1 - 1 / 1.2)), int(height * (1 - 1 / 1.2))
        for box in [(0, 0, width, y), (0, height - y, width, height), (0, 0, x, height), (width - x, 0, width, height)]:
            assert card.crop(box).tobytes() == background.crop(box).tobytes(), f"text drawn in {box}"
        inner = (x, y, width - x, height - y)
        assert card.crop(inner).tobytes() != background.crop(inner).tobytes()  # the text is there


def test_second_request_for_the_same_image_is_served_from_storage(settings: Settings) -> None:
    storage = open_storage(settings)
    provider = open_image_provider(settings)
    first, _ = make_scene_image(_scene(), provider=provider, storage=storage, work_dir=settings.work_dir)
    mtime = storage.local_path(first.storage_key).stat().st_mtime_ns
    again, call = make_scene_image(_scene(), provider=provider, storage=storage, work_dir=settings.work_dir)
    assert again.cached and call.cached and call.units == 0
    assert again.storage_key == first.storage_key
    assert storage.local_path(first.storage_key).stat().st_mtime_ns == mtime


def test_narration_is_real_speech_with_word_timings(settings: Settings) -> None:
    storage = open_storage(settings)
    text = "Fishing boats slip out to sea, one by one."
    audio, call = narrate_scene(
        _scene(text=text), provider=open_voice_provider(settings), storage=storage, work_dir=settings.work_dir
    )
    with wave.open(str(storage.local_path(audio.storage_key))) as wav:
        assert wav.getnframes() / wav.getframerate() == pytest.approx(audio.duration_s)
    assert 1.0 < audio.duration_s < 6.0
    assert [w.word for w in audio.words] == text.split()
    starts = [w.start_s for w in audio.words]
    assert starts == sorted(starts) and audio.words[-1].end_s <= audio.duration_s
    assert all(w.end_s > w.start_s for w in audio.words)
    assert audio.timings_estimated
    assert call.units == len(text) and call.unit_kind == "characters" and not call.cached


def test_narration_cache_returns_the_same_timings_without_synthesising(settings: Settings) -> None:
    storage = open_storage(settings)
    provider = open_voice_provider(settings)
    first, _ = narrate_scene(_scene(), provider=provider, storage=storage, work_dir=settings.work_dir)
    again, call = narrate_scene(_scene(), provider=provider, storage=storage, work_dir=settings.work_dir)
    assert call.cached and again.cached
    assert again.words == first.words and again.duration_s == first.duration_s
    other_voice, call = narrate_scene(
        _scene(voice="en-gb"), provider=provider, storage=storage, work_dir=settings.work_dir
    )
    assert not call.cached and other_voice.content_hash != first.content_hash


def test_unknown_voice_is_an_invalid_request(settings: Settings) -> None:
    with pytest.raises(InvalidRequest, match="no voice 'no-such-voice'"):
        narrate_scene(
            _scene(voice="no-such-voice"),
            provider=open_voice_provider(settings),
            storage=open_storage(settings),
            work_dir=settings.work_dir,
        )
    assert not list(settings.work_dir.rglob("*.wav"))


class _CountingVoice:
    """The real espeak-ng provider, counting its calls."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def synthesize(self, **kwargs: Any) -> Any:
        self.calls += 1
        return self.inner.synthesize(**kwargs)


class _StorageDownOnce:
    """The real local storage, whose first upload fails the way an S3 outage does."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.failed = inner, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_file(self, key: str, path: Path) -> None:
        if not self.failed:
            self.failed = True
            raise ProviderError("s3 is unreachable", provider="s3", retryable=True)
        self.inner.put_file(key, path)


def test_a_paid_result_whose_upload_failed_is_stored_by_the_retry_without_paying_again(settings: Settings) -> None:
    storage, voice = _StorageDownOnce(open_storage(settings)), _CountingVoice(open_voice_provider(settings))
    scene = _scene(text="Paid once, stored on the second try.")
    with pytest.raises(ProviderError, match="unreachable"):
        narrate_scene(scene, provider=voice, storage=storage, work_dir=settings.work_dir)
    assert voice.calls == 1 and list((settings.work_dir / "unstored").rglob("*.wav"))  # kept on disk

    asset, call = narrate_scene(scene, provider=voice, storage=storage, work_dir=settings.work_dir)
    assert voice.calls == 1  # the retry stored the kept result: no second synthesis
    assert not call.cached and call.units == len(scene.text)  # the ledger line says what was paid, once
    assert storage.exists(asset.storage_key) and asset.words
    assert not [p for p in (settings.work_dir / "unstored").rglob("*") if p.is_file()]
