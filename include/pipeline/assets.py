"""Make a scene's image and narration at most once per distinct input.

Every asset is stored under a content-addressed key (hash of provider, model, prompt or text, voice, size). A
retry, a re-run or another video with the same scene finds the stored asset and makes no provider call.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.atomic import write_atomic
from pipeline.errors import ProviderError
from pipeline.images.base import ImageProvider, SceneImageInputs
from pipeline.models import AudioAsset, MediaAsset, Scene, WordTiming
from pipeline.request import VideoRequest
from pipeline.scriptgen.base import Script, ScriptProvider
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
    outcome: str = "ok"  # ok | cached | error_retryable | error_final


ContentLock = Callable[[str], AbstractContextManager[object]]
Recorder = Callable[..., ProviderCall]
FailedCallSink = Callable[[ProviderCall], None]


def no_sink(call: ProviderCall) -> None:
    """Failed calls go nowhere: the default ``on_failed_call``."""


def no_lock(digest: str) -> AbstractContextManager[object]:
    """No serialisation (one process, or tests): the default ``lock``."""
    return nullcontext()


def make_script(
    request: VideoRequest,
    *,
    provider: ScriptProvider,
    storage: Storage,
    lock: ContentLock = no_lock,
    on_failed_call: FailedCallSink = no_sink,
) -> tuple[Script, ProviderCall | None]:
    """The script ``provider`` writes for ``request``; a paid one at most once per distinct topic.

    A generated script is stored under the hash of everything that shaped it; the same topic, tone, audience,
    length, voice and model later reads it back and makes no call. Returns no ledger line for a free provider
    (the request's own script).
    """
    if not provider.paid:
        return provider.write_script(request), None
    digest = content_hash(
        kind="script",
        provider=provider.name,
        model=provider.model,
        prompt_version=provider.prompt_version,
        topic=(request.topic or "").strip(),
        tone=(request.tone or "").strip(),
        audience=(request.audience or "").strip(),
        target_duration_s=request.target_duration_s,
        title=request.title,
        voice=request.voice_name.lower(),
    )
    key = content_key("scripts", digest, "json")
    started = time.monotonic()
    record = recorder(provider.name, model=provider.model, operation="script", digest=digest, started=started)
    with lock(digest):
        if storage.exists(key):
            script = Script.model_validate_json(storage.read_bytes(key))
            return script, record(units=0, unit_kind=script.unit_kind, cached=True)
        with ledgered(record, provider.unit_kind, on_failed_call):
            script = provider.write_script(request)
        storage.put_bytes(key, script.model_dump_json().encode("utf-8"))
    return script, record(units=script.units, unit_kind=script.unit_kind, cached=False)


def make_scene_image(
    scene: Scene,
    *,
    provider: ImageProvider,
    storage: Storage,
    work_dir: Path,
    lock: ContentLock = no_lock,
    on_failed_call: FailedCallSink = no_sink,
) -> tuple[MediaAsset, ProviderCall]:
    """The scene's image, generated only when storage does not already hold it.

    ``lock(digest)`` serialises everyone making the same asset (e.g. a Postgres advisory lock): the second
    waits, then finds the first one's asset in storage instead of paying again.
    """
    inputs: SceneImageInputs = {
        "prompt": scene.visual_prompt,
        "title": scene.title,
        "keywords": scene.keywords,
        "scene_number": scene.index + 1,
        "width": scene.width,
        "height": scene.height,
    }  # what the provider is given; its cache_inputs say which of them change the image
    digest = content_hash(kind="image", provider=provider.name, model=provider.model, **provider.cache_inputs(**inputs))
    key = content_key("media", digest, provider.extension)
    started = time.monotonic()
    units, unit_kind = 0.0, provider.unit_kind
    record = recorder(provider.name, model=provider.model, operation="image", digest=digest, started=started)
    with lock(digest):
        cached = storage.exists(key)
        if not cached:
            spool = Spool(work_dir, key)
            receipt = spool.held()
            if receipt is None:  # not paid for yet
                with _scratch(work_dir) as scratch, ledgered(record, unit_kind, on_failed_call):
                    dest = Path(scratch) / f"image.{provider.extension}"
                    usage = provider.generate(**inputs, dest=dest)
                    receipt = spool.keep(dest, {"units": usage.units, "unit_kind": usage.unit_kind})
            storage.put_file(key, spool.path)
            spool.release()
            units, unit_kind = receipt["units"], receipt["unit_kind"]
    asset = MediaAsset(
        scene_index=scene.index,
        content_hash=digest,
        storage_key=key,
        provider=provider.name,
        width=scene.width,
        height=scene.height,
        cached=cached,
    )
    return asset, record(units=units, unit_kind=unit_kind, cached=cached)


def narrate_scene(
    scene: Scene,
    *,
    provider: VoiceProvider,
    storage: Storage,
    work_dir: Path,
    lock: ContentLock = no_lock,
    on_failed_call: FailedCallSink = no_sink,
) -> tuple[AudioAsset, ProviderCall]:
    """The scene's narration and word timings, synthesised only when storage does not already hold them."""
    digest = content_hash(
        kind="audio", provider=provider.name, model=provider.model, voice=scene.voice.lower(), text=scene.text
    )
    audio_key = content_key("audio", digest, provider.extension)
    timings_key = content_key("audio", digest, "json")
    started = time.monotonic()
    units, unit_kind = 0.0, "characters"
    record = recorder(provider.name, model=provider.model, operation="speech", digest=digest, started=started)
    with lock(digest):
        # The timings file is written last, so its presence means the audio is complete too.
        cached = storage.exists(timings_key) and storage.exists(audio_key)
        if cached:
            meta = json.loads(storage.read_bytes(timings_key))
        else:
            spool = Spool(work_dir, audio_key)
            receipt = spool.held()
            if receipt is None:  # not paid for yet
                with _scratch(work_dir) as scratch, ledgered(record, unit_kind, on_failed_call):
                    dest = Path(scratch) / f"narration.{provider.extension}"
                    speech = provider.synthesize(text=scene.text, voice=scene.voice, dest=dest)
                    meta = {
                        "duration_s": speech.duration_s,
                        "timings_estimated": speech.timings_estimated,
                        "words": [w.model_dump() for w in speech.words],
                        "model": speech.model or provider.model,
                    }
                    receipt = spool.keep(dest, {"units": speech.units, "unit_kind": speech.unit_kind, "meta": meta})
            meta = receipt["meta"]
            storage.put_file(audio_key, spool.path)
            storage.put_bytes(timings_key, json.dumps(meta, ensure_ascii=False).encode("utf-8"))
            spool.release()
            units, unit_kind = receipt["units"], receipt["unit_kind"]
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
        language=scene.language,
    )
    # the ledger names the engine and the voice: Polly's price depends on the engine
    used = f"{meta.get('model') or provider.model}/{scene.voice}"
    return asset, record(units=units, unit_kind=unit_kind, cached=cached, used_model=used)


def recorder(provider: str, *, model: str, operation: str, digest: str, started: float) -> Recorder:
    """A maker of this call's ledger line, timed from ``started``."""

    def record(
        *, units: float, unit_kind: str, cached: bool, outcome: str | None = None, used_model: str | None = None
    ) -> ProviderCall:
        return ProviderCall(
            provider=provider,
            model=used_model or model,
            operation=operation,
            content_hash=digest,
            units=units,
            unit_kind=unit_kind,
            cached=cached,
            duration_ms=round((time.monotonic() - started) * 1000),
            outcome=outcome or ("cached" if cached else "ok"),
        )

    return record


@contextmanager
def ledgered(record: Recorder, unit_kind: str, on_failed_call: FailedCallSink) -> Iterator[None]:
    """A provider error's call goes to ``on_failed_call`` (the ledger) before the error goes on."""
    try:
        yield
    except ProviderError as exc:
        outcome = "error_retryable" if exc.retryable else "error_final"
        on_failed_call(record(units=0, unit_kind=unit_kind, cached=False, outcome=outcome))
        raise


class Spool:
    """A paid result kept on this machine's disk until storage holds it.

    A provider is paid, then storage fails (an S3 outage): the result and its receipt (units, timings) stay in
    ``work_dir/unstored/KEY``, and the task's retry stores them without calling the provider again. The ledger
    line is written once, by the attempt that stores the asset, with the units paid.
    """

    def __init__(self, work_dir: Path, key: str) -> None:
        self.path = work_dir / "unstored" / key
        self.receipt = self.path.with_name(self.path.name + ".receipt.json")

    def held(self) -> dict[str, Any] | None:
        """The receipt of a result paid for earlier and not stored yet (None: nothing held)."""
        if not (self.path.is_file() and self.receipt.is_file()):
            return None
        return dict(json.loads(self.receipt.read_text(encoding="utf-8")))

    def keep(self, produced: Path, receipt: dict[str, Any]) -> dict[str, Any]:
        """Move ``produced`` into the spool (same file system: an atomic rename), then write its receipt."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(produced, self.path)
        write_atomic(self.receipt, json.dumps(receipt, ensure_ascii=False).encode("utf-8"))
        return receipt

    def release(self) -> None:
        """Stored: forget it (the receipt first, so a half-released spool is never taken for a held one)."""
        self.receipt.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)


def _scratch(work_dir: Path) -> tempfile.TemporaryDirectory[str]:
    work_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=work_dir, prefix="asset-")
