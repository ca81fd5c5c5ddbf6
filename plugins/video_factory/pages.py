"""What the plugin's two pages share: their templates, the headers every plugin answer carries, and what the
signed-in user may do.

Airflow shows the pages in a frame sandboxed with ``allow-scripts allow-same-origin allow-forms allow-downloads``:
no ``confirm()``, no pop-ups, no top-level navigation. The pages therefore confirm inline, open Airflow's own pages
through the parent's router (``_page.html``), and follow its light or dark theme.

Each page gets a Content-Security-Policy with a fresh nonce: only its own inline script and style run, it talks
to its own origin only, pictures and videos come from here (or, with S3 storage, from the bucket's endpoint, where
the file routes redirect), and only a page of this site may frame it.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from pipeline.config import Settings
from pipeline.constants import DagId

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))  # autoescaped: user text stays text
FRAME_ANCESTORS = "frame-ancestors 'self'"
AWS_S3 = "https://*.amazonaws.com"


def media_sources(settings: Settings) -> str:
    """Where the page's pictures and videos may come from: here, and the S3 endpoint the file routes redirect to."""
    if settings.storage.storage_backend != "s3":
        return "'self'"
    endpoint = urlsplit(settings.storage.s3_endpoint_url)
    return f"'self' {endpoint.scheme}://{endpoint.netloc}" if endpoint.netloc else f"'self' {AWS_S3}"


def page_policy(nonce: str, media: str) -> str:
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'nonce-{nonce}'",
            f"style-src 'nonce-{nonce}'",
            f"img-src {media}",
            f"media-src {media}",
            "connect-src 'self'",
            "form-action 'none'",
            "base-uri 'none'",
            FRAME_ANCESTORS,
        )
    )


def render_page(request: Request, name: str, context: dict[str, Any], settings: Settings) -> HTMLResponse:
    """A page from its template, with its nonce and its Content-Security-Policy."""
    nonce = secrets.token_urlsafe(18)
    response = TEMPLATES.TemplateResponse(request, name, {**context, "nonce": nonce})
    response.headers["Content-Security-Policy"] = page_policy(nonce, media_sources(settings))
    return response


class SecurityHeaders(BaseHTTPMiddleware):
    """Every answer of the plugin app: framed only by this site, its content type taken as sent."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", FRAME_ANCESTORS)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def permissions(user: Any) -> dict[str, bool]:
    """What the user may do to the video DAG's runs, as the pages show it (the routes and Airflow's API check it
    again): read, trigger (new video, retry with changes), edit (retry, send back to the batch), delete."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    manager = get_auth_manager()
    details = DagDetails(id=DagId.VIDEO.value)

    def may(method: str) -> bool:
        return bool(
            manager.is_authorized_dag(
                method=method,  # type: ignore[arg-type]
                access_entity=DagAccessEntity.RUN,
                details=details,
                user=user,
            )
        )

    return {"trigger": may("POST"), "edit": may("PUT"), "delete": may("DELETE")}
