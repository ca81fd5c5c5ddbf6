"""The "New video" page: the request form, generated from the request model, that checks every field as it is
typed (Airflow 3.3's own trigger form checks only that required fields are filled).

The page submits to Airflow's own REST API (``POST /api/v2/dags/video_production/dagRuns``) with the UI's login
cookie, so it adds no state-changing route of its own; the API still validates the conf, and its one-line 400
(see ``api_errors``) is shown if anything slips through.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from pipeline.config import load_settings
from pipeline.constants import DagId
from pipeline.request import form_fields, pattern_rule, run_id_for
from video_factory.pages import SecurityHeaders, permissions, render_page

URL_PREFIX = "/video-factory"
DAG_ID = DagId.VIDEO.value


def sections_of(fields: dict[str, dict[str, Any]]) -> list[str]:
    """The form's sections in the order their first field comes: every field of the model has its place
    (a fixed list once left a new section's fields off the page, and its script then failed on them)."""
    return list(dict.fromkeys(schema.get("section", "") for schema in fields.values()))


app = FastAPI(title="Video factory", docs_url=None, redoc_url=None, openapi_url=None)
app.add_middleware(SecurityHeaders)


@app.exception_handler(RequestValidationError)
async def one_line_400(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A query or path value out of its bounds: HTTP 400 and one line naming it (not FastAPI's 422 list)."""
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("query", "path", "body"))
        problems.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=400)


@app.get("/new", response_class=HTMLResponse)
def new_video(request: Request, user: GetUserDep) -> HTMLResponse:
    """The form (only for a logged-in user: the UI's cookie or a bearer token)."""
    fields = form_fields()
    for schema in (*fields.values(), *(f["items"] for f in fields.values() if "items" in f)):
        if "pattern" in schema:
            schema["patternMessage"] = pattern_rule(schema["pattern"])  # the model's own words
    sections = [
        {
            "title": section or "The video",
            "fields": [_field(name, schema) for name, schema in fields.items() if schema.get("section", "") == section],
        }
        for section in sections_of(fields)
    ]
    return render_page(
        request,
        "new_video.html",
        {
            "user": user.get_name(),
            "may": permissions(user),
            "sections": sections,
            "fields": fields,
            "dag_id": DAG_ID,
            "run_prefix": run_id_for(""),
        },
        load_settings(),
    )


def _field(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """What the template needs to draw one field: its label, help, widget kind and value (the template escapes)."""
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    kind = next(k for k in kinds if k != "null")
    default = schema.get("default")
    field: dict[str, Any] = {
        "name": name,
        "label": schema.get("title", name) + (" *" if "default" not in schema else ""),
        "help": schema.get("description", ""),
        "kind": kind,
        "value": "" if default is None else default,
    }
    if "enum" in schema:
        shown = schema.get("values_display", {})
        field["options"] = [
            {
                "value": json.dumps(v),
                "label": shown.get(str(v), "the default" if v is None else str(v)),
                "selected": v == default,
            }
            for v in schema["enum"]
        ]
    elif kind in ("integer", "number"):
        field.update(kind="number", value=str(default))
    elif kind == "object":  # a JSON object, e.g. {"de": "..."}
        field.update(kind="text", value="", rows=4)
    elif kind == "array" or schema.get("format") == "multiline":
        text = "\n".join(default) if isinstance(default, list) else (default or "")
        field.update(kind="text", value=text, rows=8 if kind == "string" else 3)
    return field
