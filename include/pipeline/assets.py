"""Make a scene's image and narration at most once per distinct input.

Every asset is stored under a content-addressed key (hash of provider, model, prompt or text, voice, size). A
retry, a re-run or another video with the same scene finds the stored asset and makes no provider call.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.images.base import ImageProvider
from pipeline.models import AudioAsset, MediaAsset, Scene, WordTiming
from pipeline.storage.base import Storage, content_hash, content_key
from pipeline.voice.base import VoiceProvider


@dataclass(frozen=True)
class ProviderCall:
    """One line of the provider-calls ledger: a paid call made, or one saved by the cache."""

    provider: str
    model: str
    operation: str
    content_hash: str
    units: float
    unit_kind: str
    cached: bool
    duration_ms: int
    outcome: str = "ok"


def make_scene_image(
    scene: Scene, *, provider: ImageProvider, storage: Storage, work_dir: Path
) -> tuple[MediaAsset, ProviderCall]:
    """The scene's image, generated only when storage does not already hold it."""
    digest = content_hash(
        kind="image",
        provider=provider.name,
        model=provider.model,
        prompt=scene.visual_prompt,
        title=scene.title,
        keywords=list(scene.keywords),
        scene_number=scene.index + 1,
        width=scene.width,
        height=scene.height,
    )
    key = content_key("media", digest, provider.extension)
    started = time.monotonic()
    cached = storage.exists(key)
    units, unit_kind = 0.0, "images"
    if not cached:
        with _scratch(work_dir) as scratch:
            dest = Path(scratch) / f"image.{provider.extension}"
            usage = provider.generate(
                prompt=scene.visual_prompt,
                title=scene.title,
                keywords=scene.keywords,
                scene_number=scene.index + 1,
                width=scene.width,
                height=scene.height,
                dest=dest,
            )
            storage.put_file(key, dest)
        units, unit_kind = usage.units, usage.unit_kind
    asset = MediaAsset(
        scene_index=scene.index,
        content_hash=digest,
        storage_key=key,
        provider=provider.name,
        width=scene.width,
        height=scene.height,
        cached=cached,
    )
    return asset, _call(
        provider.name,
        model=provider.model,
        operation="image",
        digest=digest,
        units=units,
        unit_kind=unit_kind,
        cached=cached,
        started=started,
    )


def narrate_scene(
    scene: Scene, *, provider: VoiceProvider, storage: Storage, work_dir: Path
) -> tuple[AudioAsset, ProviderCall]:
    """The scene's narration and word timings, synthesised only when storage does not already hold them."""
    digest = content_hash(
        kind="audio", provider=provider.name, model=provider.model, voice=scene.voice.lower(), text=scene.text
    )
    audio_key = content_key("audio", digest, provider.extension)
    timings_key = content_key("audio", digest, "json")
    started = time.monotonic()
    # The timings file is written last, so its presence means the audio is complete too.
    cached = storage.exists(timings_key) and storage.exists(audio_key)
    units, unit_kind = 0.0, "characters"
    if cached:
        meta = json.loads(storage.read_bytes(timings_key))
    else:
        with _scratch(work_dir) as scratch:
            dest = Path(scratch) / f"narration.{provider.extension}"
            speech = provider.synthesize(text=scene.text, voice=scene.voice, dest=dest)
            storage.put_file(audio_key, dest)
        meta = {
            "duration_s": speech.duration_s,
            "timings_estimated": speech.timings_estimated,
            "words": [w.model_dump() for w in speech.words],
        }
        storage.put_bytes(timings_key, json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        units, unit_kind = speech.units, speech.unit_kind
    asset = AudioAsset(
        scene_index=scene.index,
        content_hash=digest,
        storage_key=audio_key,
        provider=provider.name,
        voice=scene.voice,
        duration_s=meta["duration_s"],
        words=tuple(WordTiming.model_validate(w) for w in meta["words"]),
        timings_estimated=meta["timings_estimated"],
        cached=cached,
    )
    return asset, _call(
        provider.name,
        model=provider.model,
        operation="speech",
        digest=digest,
        units=units,
        unit_kind=unit_kind,
        cached=cached,
        started=started,
    )


def _call(
    provider: str,
    *,
    model: str,
    operation: str,
    digest: str,
    units: float,
    unit_kind: str,
    cached: bool,
    started: float,
) -> ProviderCall:
    return ProviderCall(
        provider=provider,
        model=model,
        operation=operation,
        content_hash=digest,
        units=units,
        unit_kind=unit_kind,
        cached=cached,
        duration_ms=round((time.monotonic() - started) * 1000),
    )


def _scratch(work_dir: Path) -> tempfile.TemporaryDirectory[str]:
    work_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=work_dir, prefix="asset-")
