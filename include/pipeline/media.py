"""A scene's picture from its media sources, in the order the request (or the factory) chose: the team's library,
stock footage and photos, then the image provider (Stability or title cards), then a title card when the image
provider has none (a filtered prompt).

Each source is asked only when the one before has nothing for the scene; what any source returns is stored
content-addressed, so a retry, a re-run or a second language asks no source again.
"""

from __future__ import annotations

import time
from pathlib import Path

from pipeline.assets import (
    ContentLock,
    FailedCallSink,
    ProviderCall,
    make_scene_image,
    no_lock,
    no_sink,
    recorder,
)
from pipeline.constants import ImageProviderId, MediaSourceId
from pipeline.errors import InvalidRequest, NoMedia, ProviderError
from pipeline.images.base import ImageProvider
from pipeline.images.pexels import LICENCE, Kind, PexelsStock
from pipeline.models import MediaAsset, Scene
from pipeline.storage.base import Storage, content_hash

STOCK_CHOICES = 3  # scenes with the same query take turns among the first results, not all the first one


def make_scene_media(
    scene: Scene,
    *,
    provider: ImageProvider,
    storage: Storage,
    work_dir: Path,
    stock: PexelsStock | None = None,
    fallback: ImageProvider | None = None,
    lock: ContentLock = no_lock,
    on_failed_call: FailedCallSink = no_sink,
) -> tuple[MediaAsset, list[ProviderCall]]:
    """The scene's picture and the ledger lines of every source asked (see the module's docstring).

    ``fallback`` makes the picture when ``provider`` has none (``NoMedia``); ``stock`` is needed when the scene's
    sources name pexels.
    """
    calls: list[ProviderCall] = []
    for source in scene.media_sources:
        if source == MediaSourceId.LIBRARY and scene.library_pick is not None:
            return _from_library(scene), [_free_call(MediaSourceId.LIBRARY, scene.library_pick.storage_key)]
        if source == MediaSourceId.PEXELS:
            if stock is None:
                raise ProviderError(
                    "no stock client: add the pexels_default connection", provider=source, retryable=False
                )
            found = stock_media(scene, stock, lock=lock, on_failed_call=on_failed_call, calls=calls)
            if found is not None:
                return found, calls

    def made_by(image_provider: ImageProvider) -> tuple[MediaAsset, ProviderCall]:
        return make_scene_image(
            scene, provider=image_provider, storage=storage, work_dir=work_dir, lock=lock, on_failed_call=on_failed_call
        )

    try:
        asset, call = made_by(provider)
    except NoMedia:
        if fallback is None:
            raise
        asset, call = made_by(fallback)
    return asset, [*calls, call]


def stock_queries(scene: Scene) -> list[tuple[Kind, str]]:
    """What is searched, in order, until something is found: footage for the scene's main keywords, footage for its
    first keyword, photos for the main keywords (at most three requests a scene)."""
    words = list(scene.keywords) or scene.visual_prompt.split()[:3]
    if not words:
        return []
    main, first = " ".join(words[:2]), words[0]
    queries: list[tuple[Kind, str]] = [("video", main)]
    if first != main:
        queries.append(("video", first))
    queries.append(("image", main))
    return queries


def stock_media(
    scene: Scene,
    stock: PexelsStock,
    *,
    lock: ContentLock = no_lock,
    on_failed_call: FailedCallSink = no_sink,
    calls: list[ProviderCall],
) -> MediaAsset | None:
    """The scene's stock clip or photo, or None when no search finds one; each search is a ledger line in ``calls``
    (a stored answer is a cache hit)."""
    for kind, query in stock_queries(scene):
        digest = stock.search_digest(query, kind=kind, width=scene.width, height=scene.height)
        started = time.monotonic()
        try:
            with lock(digest):  # two scenes with one query: the second reads the first one's answer
                search = stock.search(query, kind=kind, width=scene.width, height=scene.height)
        except ProviderError as exc:
            outcome = "error_retryable" if exc.retryable else "error_final"
            on_failed_call(_stock_call(digest, started, cached=False, outcome=outcome, units=0))
            raise
        calls.append(_stock_call(digest, started, cached=search.cached, units=0 if search.cached else 1))
        if not search.items:
            continue
        item = search.items[scene.index % min(STOCK_CHOICES, len(search.items))]
        with lock(content_hash(kind="stock-file", file=item.file_id)):
            key = stock.download(item, check=_usable)
        return MediaAsset(
            scene_index=scene.index,
            content_hash=content_hash(kind="stock", key=key),
            storage_key=key,
            kind=item.kind,
            provider=MediaSourceId.PEXELS.value,
            width=scene.width,
            height=scene.height,
            cached=search.cached,
            credit=item.credit,
            licence=LICENCE,
        )
    return None


def _usable(path: Path) -> None:
    from pipeline.library import inspect_media

    try:
        inspect_media(path)
    except InvalidRequest as exc:
        raise ProviderError(
            f"the downloaded file is unusable: {exc.message}", provider="pexels", retryable=True
        ) from None


def _from_library(scene: Scene) -> MediaAsset:
    pick = scene.library_pick
    assert pick is not None
    return MediaAsset(
        scene_index=scene.index,
        content_hash=content_hash(kind="library", key=pick.storage_key),
        storage_key=pick.storage_key,
        kind=pick.kind,
        provider=MediaSourceId.LIBRARY.value,
        width=scene.width,
        height=scene.height,
        cached=True,
        credit=f"{pick.name} (team library)",
        licence=pick.licence,
    )


def _free_call(provider: str, key: str) -> ProviderCall:
    digest = content_hash(kind="library", key=key)
    record = recorder(provider, model="library", operation="media", digest=digest, started=time.monotonic())
    return record(units=0, unit_kind="items", cached=True)


def _stock_call(digest: str, started: float, *, cached: bool, units: float, outcome: str | None = None) -> ProviderCall:
    pexels = MediaSourceId.PEXELS.value
    record = recorder(pexels, model=PexelsStock.model, operation="stock_search", digest=digest, started=started)
    return record(units=units, unit_kind=PexelsStock.unit_kind, cached=cached, outcome=outcome)


def title_cards_after(provider: ImageProvider) -> bool:
    """Whether a title card stands behind ``provider`` (it does behind every provider but the title cards)."""
    return provider.name != ImageProviderId.PROCEDURAL
