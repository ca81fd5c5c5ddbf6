"""The webhook destination: a team's own CMS gets a signed JSON POST for every finished video version.

The request (what a receiver checks):

- body: ``{"event": "video.published", "idempotency_key": KEY, "sent_at": ISO-8601, "video": {...}}``, the video's
  metadata with short-lived links to the MP4, its subtitles and thumbnail (S3: presigned);
- ``Idempotency-Key: KEY``: the same on every try of one video version to one destination: a receiver that has
  seen it answers 2xx (or 409) and does nothing more;
- ``X-Video-Factory-Timestamp: UNIX-SECONDS`` and ``X-Video-Factory-Signature: sha256=HEX``, HEX the HMAC-SHA256
  with the destination's secret of ``TIMESTAMP + "." + BODY`` (the raw bytes): a receiver recomputes it, compares in
  constant time and refuses a timestamp older than a few minutes (a replayed request).

Answers: 2xx or 409 is delivered (a JSON ``id`` in the answer is kept as the destination's id for the video);
408, 425, 429 and 5xx, or no answer, are retryable (Airflow's retries back off; ``Retry-After`` is honoured);
any other 4xx is final, with the status and the first line of the answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from pipeline.errors import ProviderError

PROVIDER = "webhook"
SIGNATURE_HEADER = "X-Video-Factory-Signature"
TIMESTAMP_HEADER = "X-Video-Factory-Timestamp"
RETRYABLE = frozenset({408, 425, 429})


class VideoMetadata(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    language: str
    title: str
    description: str
    duration_s: float
    width: int
    height: int
    video_url: str
    subtitles_url: str | None = None
    thumbnail_url: str | None = None
    credits: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # the scenes' keywords
    ai_made: bool = False  # a picture was generated or a neural voice narrates (YouTube's synthetic-media label)


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=HEX``: HMAC-SHA256 of ``timestamp + "." + body`` with ``secret``."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def deliver(
    url: str,
    secret: bytes,
    video: VideoMetadata,
    *,
    idempotency_key: str,
    client: httpx.Client | None = None,
    timeout_s: float = 30,
    now: float | None = None,
) -> str | None:
    """POST ``video`` to ``url``, signed; the destination's id for it (None when it gives none), or
    ``ProviderError`` (retryable or final, with the reason)."""
    sent = time.time() if now is None else now
    envelope: dict[str, Any] = {
        "event": "video.published",
        "idempotency_key": idempotency_key,
        "sent_at": datetime.fromtimestamp(sent, UTC).isoformat(),
        "video": video.model_dump(mode="json"),
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(sent))
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": idempotency_key,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    owned = client is None
    http = client or httpx.Client(timeout=timeout_s)
    try:
        answer = http.post(url, content=body, headers=headers)
    except httpx.TransportError as exc:
        reason = f"no answer from {_host(url)} ({type(exc).__name__})"
        raise ProviderError(reason, provider=PROVIDER, retryable=True) from None
    finally:
        if owned:
            http.close()
    if answer.is_success or answer.status_code == 409:
        return _their_id(answer)
    said = (answer.text.strip().splitlines() or [""])[0][:200]
    reason = f"{_host(url)} answered {answer.status_code}" + (f": {said}" if said else "")
    if answer.status_code in RETRYABLE or answer.status_code >= 500:
        raise ProviderError(reason, provider=PROVIDER, retryable=True, retry_after=_retry_after(answer))
    raise ProviderError(f"{reason} (check the destination's URL and secret)", provider=PROVIDER, retryable=False)


def _their_id(answer: httpx.Response) -> str | None:
    try:
        found = answer.json().get("id")
    except (ValueError, AttributeError):
        return None
    return str(found) if found is not None else None


def _retry_after(answer: httpx.Response) -> float | None:
    try:
        return float(answer.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _host(url: str) -> str:
    return httpx.URL(url).host or url
