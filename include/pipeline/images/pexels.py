"""Stock footage and photos from Pexels' REST API (``GET /videos/search``, ``GET /v1/search``) over httpx.

A scene's keywords are searched for videos first (motion), then photos, in the orientation of the frame. Each
search's answer is stored under the hash of its query (``stock/pexels/…json``): the same query in another scene,
a retry or another video asks Pexels nothing. Each downloaded file is stored under Pexels' own id of that file
(``media/pexels/video-<id>.mp4``): one download per file, ever. The author and the page of every asset are kept
with it; Pexels asks for "Video by NAME on Pexels" credits, and the Videos page and the ledger show them.

One attempt per call (retries are Airflow's); 429 and 5xx are retryable, with the wait Pexels asks for
(``Retry-After``, else ``X-Ratelimit-Reset``); a search without results is not an error: the next source is tried.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from pipeline.atomic import atomic_path
from pipeline.constants import MediaSourceId
from pipeline.errors import ProviderError, http_status_error
from pipeline.storage.base import Storage, content_hash, content_key

DEFAULT_BASE_URL = "https://api.pexels.com"
LICENCE = "Pexels licence (free to use, no attribution required): https://www.pexels.com/license/"
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
MIN_CLIP_S = 2.0
Kind = Literal["video", "image"]


@dataclass(frozen=True)
class StockItem:
    """One file of a search result, chosen for the frame."""

    kind: Kind
    item_id: int  # Pexels' id of the video or photo
    file_id: str  # of the chosen rendition: the download's storage name
    link: str
    width: int
    height: int
    author: str
    page_url: str
    extension: str

    @property
    def credit(self) -> str:
        noun = "Video" if self.kind == "video" else "Photo"
        return f"{noun} by {self.author or 'an author'} on Pexels: {self.page_url}"


@dataclass(frozen=True)
class Search:
    """What one search found; ``cached``: read from storage, Pexels was not asked."""

    items: tuple[StockItem, ...]
    cached: bool
    query: str
    digest: str  # of the query: the ledger line's content hash


def orientation(width: int, height: int) -> str:
    return "landscape" if width > height else "portrait" if height > width else "square"


class PexelsStock:
    """Searches and downloads, cached in ``storage``."""

    name = MediaSourceId.PEXELS.value
    model = "pexels-v1"
    unit_kind = "requests"

    def __init__(
        self,
        *,
        api_key: str,
        storage: Storage,
        base_url: str | None = None,
        per_page: int = 15,
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise ProviderError(
                "no API key (the pexels_default connection's password)", provider=self.name, retryable=False
            )
        self.storage = storage
        self.per_page = per_page
        self._client = httpx.Client(
            base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            headers={"Authorization": api_key},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 15.0)),
            transport=transport,
        )
        # the files are on Pexels' CDN: fetched without the API key, following its redirects
        self._files = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 15.0)), transport=transport, follow_redirects=True
        )

    def search_digest(self, query: str, *, kind: Kind, width: int, height: int) -> str:
        return content_hash(
            kind="stock-search",
            source=self.name,
            query=query,
            orientation=orientation(width, height),
            media=kind,
            per_page=self.per_page,
        )

    def search(self, query: str, *, kind: Kind, width: int, height: int) -> Search:
        """The results for ``query`` that suit a ``width`` x ``height`` frame, best first (cached by query)."""
        wanted = orientation(width, height)
        digest = self.search_digest(query, kind=kind, width=width, height=height)
        key = content_key("stock/pexels", digest, "json")
        if self.storage.exists(key):
            return Search(_items(json.loads(self.storage.read_bytes(key)), kind, width, height), True, query, digest)
        path = "/videos/search" if kind == "video" else "/v1/search"
        params = {"query": query, "orientation": wanted, "per_page": self.per_page, "page": 1}
        body = self._get_json(path, params)
        self.storage.put_bytes(key, json.dumps(_trimmed(body, kind), ensure_ascii=False).encode("utf-8"))
        return Search(_items(body, kind, width, height), False, query, digest)

    def download(self, item: StockItem, check: Callable[[Path], object]) -> str:
        """The storage key of ``item``'s file, downloaded once; ``check(path)`` raises when it is not a usable
        file (then nothing is stored)."""
        key = f"media/pexels/{item.kind}-{item.file_id}.{item.extension}"
        if self.storage.exists(key):
            return key
        with tempfile.TemporaryDirectory(prefix="pexels-") as folder:
            dest = Path(folder) / f"download.{item.extension}"
            self._download(item.link, dest)
            check(dest)
            self.storage.put_file(key, dest)
        return key

    def _get_json(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._client.get(path, params=params)
        except httpx.TimeoutException:
            raise ProviderError("timed out searching", provider=self.name, retryable=True) from None
        except httpx.TransportError as exc:
            raise ProviderError(f"connection failed: {exc}", provider=self.name, retryable=True) from None
        if response.status_code != 200:
            raise http_status_error(
                self.name, response.status_code, _error_message(response), retry_after=_wait_header(response)
            )
        try:
            body = response.json()
        except ValueError:
            raise ProviderError("malformed response: not JSON", provider=self.name, retryable=True) from None
        if not isinstance(body, dict):
            raise ProviderError("malformed response: not a JSON object", provider=self.name, retryable=True)
        return body

    def _download(self, link: str, dest: Path) -> None:
        try:
            with self._files.stream("GET", link) as response:
                if response.status_code != 200:
                    raise http_status_error(self.name, response.status_code, "download failed")
                size = 0
                with atomic_path(dest) as tmp, open(tmp, "wb") as out:
                    for chunk in response.iter_bytes(1 << 16):
                        size += len(chunk)
                        if size > MAX_DOWNLOAD_BYTES:
                            raise ProviderError(
                                f"the file is over {MAX_DOWNLOAD_BYTES >> 20} MB", provider=self.name, retryable=False
                            )
                        out.write(chunk)
        except httpx.TimeoutException:
            raise ProviderError("timed out downloading", provider=self.name, retryable=True) from None
        except httpx.TransportError as exc:
            raise ProviderError(f"download failed: {exc}", provider=self.name, retryable=True) from None


def _wait_header(response: httpx.Response) -> str | None:
    """Retry-After, else the seconds until ``X-Ratelimit-Reset`` (a UNIX time) when the hourly quota is spent."""
    if response.headers.get("retry-after"):
        return response.headers["retry-after"]
    reset = response.headers.get("x-ratelimit-reset")
    if reset and reset.isdigit():
        return str(max(0, int(reset) - int(time.time())))
    return None


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body.get("error") or body.get("code") or body)[:300]
    except (ValueError, AttributeError):
        return response.text[:300]


def _trimmed(body: dict[str, Any], kind: Kind) -> dict[str, Any]:
    """What is kept of an answer: the results' ids, files, sizes and credits (not Pexels' whole JSON)."""
    listed = body.get("videos" if kind == "video" else "photos") or []
    keep = (
        "id",
        "width",
        "height",
        "duration",
        "url",
        "user",
        "photographer",
        "photographer_url",
        "src",
        "video_files",
    )
    return {
        "videos" if kind == "video" else "photos": [
            {k: r.get(k) for k in keep if k in r} for r in listed if isinstance(r, dict)
        ]
    }


def _items(body: dict[str, Any], kind: Kind, width: int, height: int) -> tuple[StockItem, ...]:
    """Usable results in Pexels' order (its relevance): a video's rendition nearest the frame's size from above,
    a photo's large rendition; clips shorter than ``MIN_CLIP_S`` and broken entries are left out."""
    found = []
    for result in body.get("videos" if kind == "video" else "photos") or []:
        try:
            item = _video(result, width, height) if kind == "video" else _photo(result)
        except (KeyError, TypeError, ValueError):
            continue
        if item is not None:
            found.append(item)
    return tuple(found)


def _video(result: dict[str, Any], width: int, height: int) -> StockItem | None:
    if float(result.get("duration") or 0) < MIN_CLIP_S:
        return None
    files = [f for f in result["video_files"] if f.get("file_type") == "video/mp4" and f.get("link")]
    if not files:
        return None
    short = min(width, height)

    def fit(f: dict[str, Any]) -> tuple[int, int]:  # the smallest rendition at least as sharp as the frame
        side = min(int(f["width"]), int(f["height"]))
        return (0, side) if side >= short else (1, -side)

    chosen = min(files, key=fit)
    user = result.get("user") or {}
    return StockItem(
        kind="video",
        item_id=int(result["id"]),
        file_id=str(int(chosen["id"])),
        link=str(chosen["link"]),
        width=int(chosen["width"]),
        height=int(chosen["height"]),
        author=str(user.get("name") or ""),
        page_url=str(result.get("url") or ""),
        extension="mp4",
    )


def _photo(result: dict[str, Any]) -> StockItem | None:
    src = result["src"]
    link = src.get("large2x") or src.get("original")
    if not link:
        return None
    return StockItem(
        kind="image",
        item_id=int(result["id"]),
        file_id=str(int(result["id"])),
        link=str(link),
        width=int(result.get("width") or 0),
        height=int(result.get("height") or 0),
        author=str(result.get("photographer") or ""),
        page_url=str(result.get("url") or ""),
        extension="jpg",
    )
