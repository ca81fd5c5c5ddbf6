"""One line for a refused request: Airflow's HTTP 400 for a conf that breaks the Param schema repeats the whole
value (tens of kB for a long script) with the schema; this middleware answers the model's one-line reason instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pipeline.constants import DagId
from pipeline.errors import InvalidRequest
from pipeline.request import VideoRequest, without_unknown_keys

_TRIGGER = re.compile(r"^/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")
FALLBACK_CHARS = 300


class ShortRequestErrors(BaseHTTPMiddleware):
    """Rewrites the detail of a 400 answered to a trigger of a video DAG; every other response passes as is."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        match = _TRIGGER.match(request.url.path)
        if request.method != "POST" or not match or match["dag_id"] != DagId.VIDEO:
            return await call_next(request)
        body = await request.body()
        response = await call_next(request)
        if response.status_code != 400:
            return response
        payload = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        return JSONResponse({"detail": short_reason(_detail(payload), body)}, status_code=400)


def short_reason(detail: str, body: bytes) -> str:
    """The model's one-line reason for the submitted conf, or the first line of Airflow's, cut short."""
    try:
        conf = json.loads(body).get("conf") or {}
        VideoRequest.from_conf(without_unknown_keys(conf))  # Airflow refused a known field: say which, and why
    except InvalidRequest as exc:
        return exc.message
    except (ValueError, AttributeError):
        pass
    first = detail.strip().splitlines()[0] if detail.strip() else "the request was refused"
    return first if len(first) <= FALLBACK_CHARS else first[: FALLBACK_CHARS - 1] + "…"


def _detail(payload: bytes) -> str:
    try:
        detail: Any = json.loads(payload).get("detail")
    except (ValueError, AttributeError):
        return payload.decode("utf-8", "replace")
    return detail if isinstance(detail, str) else json.dumps(detail)
