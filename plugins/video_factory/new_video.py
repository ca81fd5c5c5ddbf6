"""The "New video" page: the request form, generated from the request model, that checks every field as it is
typed (Airflow 3.3's own trigger form checks only that required fields are filled).

The page submits to Airflow's own REST API (``POST /api/v2/dags/video_production/dagRuns``) with the UI's login
cookie, so it adds no state-changing route of its own; the API still validates the conf, and its one-line 400
(see ``api_errors``) is shown if anything slips through.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from pipeline.constants import DagId
from pipeline.request import GENERATION, LOOK, PROVIDERS, TRACKING, form_fields, pattern_rule, run_id_for

URL_PREFIX = "/video-factory"
PAGE = (Path(__file__).with_name("new_video.html")).read_text(encoding="utf-8")
DAG_ID = DagId.VIDEO.value
SECTIONS = ("", GENERATION, PROVIDERS, LOOK, TRACKING)

app = FastAPI(title="Video factory", docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/new", response_class=HTMLResponse)
def new_video(user: GetUserDep) -> str:
    """The form (only for a logged-in user: the UI's cookie or a bearer token)."""
    fields = form_fields()
    for schema in (*fields.values(), *(f["items"] for f in fields.values() if "items" in f)):
        if "pattern" in schema:
            schema["patternMessage"] = pattern_rule(schema["pattern"])  # the model's own words
    sections = []
    for section in SECTIONS:
        rows = "".join(_row(name, schema) for name, schema in fields.items() if schema.get("section", "") == section)
        title = html.escape(section or "The video")
        sections.append(f"<fieldset><legend>{title}</legend>{rows}</fieldset>")
    values = {
        "SECTIONS": "".join(sections),
        "SCHEMA": json.dumps(fields).replace("<", "\\u003c"),  # JSON inside <script>: no "</script>" can form
        "DAG_ID": DAG_ID,
        "RUN_PREFIX": run_id_for(""),
        "USER": html.escape(user.get_name()),
    }
    page = PAGE
    for marker, value in values.items():
        page = page.replace(f"%%{marker}%%", value)
    return page


def _row(name: str, schema: dict[str, Any]) -> str:
    label = html.escape(schema.get("title", name)) + (" *" if "default" not in schema else "")
    help_text = html.escape(schema.get("description", ""))
    return (
        f'<div class="row"><label for="field_{name}">{label}</label><div>{_widget(name, schema)}'
        f'<small>{help_text}</small><div class="error" id="error_{name}" role="alert"></div></div></div>'
    )


def _widget(name: str, schema: dict[str, Any]) -> str:
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    kind = next(k for k in kinds if k != "null")
    default = schema.get("default")
    attrs = f'id="field_{name}" name="{name}"'
    if "enum" in schema:
        shown = schema.get("values_display", {})
        options = "".join(
            f'<option value="{html.escape(json.dumps(v))}"{" selected" if v == default else ""}>'
            f"{html.escape(shown.get(str(v), 'the default' if v is None else str(v)))}</option>"
            for v in schema["enum"]
        )
        return f"<select {attrs}>{options}</select>"
    if kind == "boolean":
        return f'<input type="checkbox" {attrs}{" checked" if default else ""}>'
    if kind in ("integer", "number"):
        return f'<input type="text" inputmode="decimal" {attrs} value="{html.escape(str(default))}">'
    if kind == "array" or schema.get("format") == "multiline":
        text = "\n".join(default) if isinstance(default, list) else (default or "")
        return f'<textarea rows="{8 if kind == "string" else 3}" {attrs}>{html.escape(text)}</textarea>'
    return f'<input type="text" {attrs} value="{html.escape(default or "")}">'
