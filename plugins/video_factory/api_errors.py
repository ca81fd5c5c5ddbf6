"""The doors of the REST API and the plugin's routes, held before any handler runs (a root middleware):

- a write to Airflow's REST API or to the plugin carries at most ``MAX_BODY_BYTES`` (413), well-formed UTF-8 JSON
  nested at most ``MAX_JSON_DEPTH`` deep (400): Python's parser would otherwise recurse into an HTTP 500, before
  Airflow even asks who is calling;
- the plugin's routes take no NUL and no broken percent-encoding in their path or query (400);
- a trigger of the video DAG by a signed-in caller is held to the request model at the door: an unknown key or a
  bad value is refused with the model's one line before a run is stored (Airflow's Param schema would store the
  run and fail it later, or answer the whole value and schema back);
- a 400 that Airflow itself answers to such a trigger is cut to one line.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pipeline.constants import DagId
from pipeline.errors import InvalidRequest
from pipeline.request import VideoRequest, without_unknown_keys

_TRIGGER = re.compile(r"^/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")
PLUGIN_PREFIX = "/video-factory"
GUARDED_PREFIXES = ("/api/v2/", f"{PLUGIN_PREFIX}/")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = logging.getLogger(__name__)
MAX_BODY_BYTES = 512 * 1024  # a request of 20,000 characters of script, JSON-escaped, fits several times
MAX_JSON_DEPTH = 32  # a request is two levels deep; Airflow's own bodies a few more
UPLOAD_PATHS = re.compile(
    rf"^{PLUGIN_PREFIX}/api/(music/|library/|channels/[^/]+/logo$)"
)  # raw file bodies, limited by their route
FALLBACK_CHARS = 300
SESSION_COOKIE = "_token"  # the UI's login


def refuse(status: int, line: str) -> JSONResponse:
    return JSONResponse({"detail": line}, status_code=status)


class RequestGuard(BaseHTTPMiddleware):
    """Refuses hostile input at the door; rewrites the detail of a 400 answered to a trigger of the video DAG."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if not path.startswith(GUARDED_PREFIXES):
            return await call_next(request)
        body = await self._json_body(request)
        if isinstance(body, Response):
            return body
        match = _TRIGGER.match(path)
        if request.method != "POST" or not match or match["dag_id"] != DagId.VIDEO:
            return await call_next(request)
        if signed_in(request) and (problem := trigger_problem(body) or await run_in_threadpool(channel_problem, body)):
            return refuse(400, problem)
        response = await call_next(request)
        if response.status_code != 400:
            return response
        payload = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        return refuse(400, short_reason(_detail(payload), body))

    @staticmethod
    async def _json_body(request: Request) -> bytes | Response:
        """The body of a JSON write (b"" for anything else), or the refusal of a bad URL or body."""
        path = request.url.path
        if path.startswith(f"{PLUGIN_PREFIX}/") and (problem := url_problem(request.scope)):
            return refuse(400, problem)
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if request.method not in WRITES or UPLOAD_PATHS.match(path) or not kind.endswith("json"):
            return b""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return refuse(413, too_large(int(declared)))
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return refuse(413, too_large(len(body)))
        if body and (problem := json_problem(body)):
            return refuse(400, problem)
        return body


def too_large(size: int) -> str:
    return f"the request body is {size:,} bytes; at most {MAX_BODY_BYTES:,} are accepted"


def url_problem(scope: MutableMapping[str, Any]) -> str | None:
    """NUL or a percent-encoding that is not UTF-8 in the path or the query: refused, never passed to a query."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode()
    for part, name in ((raw_path, "path"), (scope.get("query_string", b""), "query")):
        decoded = unquote_to_bytes(part.replace(b"+", b" "))
        if b"\x00" in decoded:
            return f"the {name} holds a NUL character: remove it"
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            return f"the {name} is not UTF-8 text: encode it as UTF-8"
    return None


def json_problem(body: bytes) -> str | None:
    """Why a body is not acceptable JSON (not UTF-8, malformed, nested too deep), or None."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8 text: send JSON encoded as UTF-8"
    if nesting(text) > MAX_JSON_DEPTH:
        return f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"the body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    except (ValueError, RecursionError):
        return "the body is not valid JSON"
    try:  # "\ud800" alone is valid JSON but no text: PostgreSQL's JSON columns refuse it
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "the JSON body holds an unpaired surrogate escape (\\ud800-\\udfff): send text as UTF-8"
    return None


def nesting(text: str) -> int:
    """How deep the brackets of a JSON text go (strings skipped), without parsing it: no recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def signed_in(request: Request) -> bool:
    """Credentials are present (Airflow checks them): an anonymous caller gets Airflow's 401, not the model."""
    return bool(request.headers.get("authorization") or request.cookies.get(SESSION_COOKIE))


def trigger_problem(body: bytes) -> str | None:
    """The request model's one line for a trigger's conf (unknown keys included), or None when it is valid."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return None  # json_problem answered already
    conf = data.get("conf") if isinstance(data, dict) else None
    if conf is None:
        return None
    if not isinstance(conf, dict):
        return "conf must be a JSON object of request fields"
    try:
        VideoRequest.from_conf(conf, default_id="check")
    except InvalidRequest as exc:
        return exc.message
    return None


def channel_problem(body: bytes) -> str | None:
    """A trigger naming a channel that does not exist, in one line (None when it exists, names none, or the
    project's database cannot say now: ``register`` checks it again)."""
    try:
        conf = json.loads(body or b"{}").get("conf") or {}
        name = conf.get("channel") if isinstance(conf, dict) else None
    except (ValueError, AttributeError):
        return None
    if not name or not isinstance(name, str):
        return None
    try:
        from pipeline.channels import channel_names
        from video_factory.videos import _engine

        known = channel_names(_engine())
    except Exception as exc:  # the check is a courtesy at the door; register refuses it for sure
        log.warning("could not check channel %r at the door: %s", name, exc)
        return None
    if name in known:
        return None
    return f"invalid video request: channel: there is no channel {name!r}: choose one of videoctl channel list"


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
