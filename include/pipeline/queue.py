"""The request table as content ops fill it: rows from a CSV or JSON Lines file (or one from flags) checked
against the request model, then inserted as ``pending`` in one transaction, or not at all.

A CSV has a header of request fields (``title``, ``script``, ``voice``, ``aspect``, ``priority`` 0-100, ...) plus
the queue's own columns ``scheduled_for`` (ISO 8601; empty: the next batch) and ``submitted_by``. Empty cells are
"not given". ``notify_emails`` holds addresses separated by ``;``. JSON Lines carry the same keys with JSON types.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from pipeline.db.queue import insert_pending
from pipeline.db.repository import request_columns
from pipeline.request import VideoRequest, checked_request, form_fields

QUEUE_COLUMNS = ("scheduled_for", "submitted_by")
TRUE, FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}
ONE_LINE_NAME = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,200}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one row: printed as ``row 4: voice: must not contain control characters``."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}"


@dataclass(frozen=True)
class QueuedRequest:
    row: int
    request: VideoRequest
    scheduled_for: datetime | None = None
    submitted_by: str | None = None


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(row number, raw row) from a ``.csv`` file (row 1 is the header) or a JSON Lines file (one per line)."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        # numbered as a spreadsheet shows them: the header is row 1 (a cell may hold several lines)
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = [(number, row) for number, row in enumerate(reader, start=2)]
        return [(number, typed_cells(row)) for number, row in rows if any((v or "").strip() for v in row.values())]
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                value = {"__error__": f"not JSON ({exc.msg})"}
            except (RecursionError, ValueError):  # nested too deep, or a number of thousands of digits
                value = {"__error__": "not JSON this tool reads (nested too deep, or a number too long)"}
            rows.append((number, value if isinstance(value, dict) else {"__error__": "not a JSON object"}))
    return rows


def check_rows(
    rows: Sequence[tuple[int, dict[str, Any]]], *, id_prefix: str, submitted_by: str | None = None
) -> tuple[list[QueuedRequest], list[Problem]]:
    """Every row held to the request model and the queue's rules; a row without ``request_id`` gets
    ``<id_prefix>-<row>``. Returns the valid rows and every problem of the others."""
    valid: list[QueuedRequest] = []
    problems: list[Problem] = []
    first_row_of: dict[str, int] = {}
    for number, raw in rows:
        found, queued = _check_row(number, raw, id_prefix=id_prefix, submitted_by=submitted_by)
        if queued is not None:
            key = queued.request.key
            if key in first_row_of:
                found.append(Problem(number, "request_id", f"{key!r} is also on row {first_row_of[key]}"))
            first_row_of.setdefault(key, number)
        if found:
            problems.extend(found)
        elif queued is not None:
            valid.append(queued)
    return valid, problems


def enqueue(engine: Engine, queued: Iterable[QueuedRequest]) -> list[Problem]:
    """Insert the rows as ``pending``, all or none: a request id already in the table is a problem, and then
    nothing is inserted."""
    items = list(queued)
    if not items:
        return []
    rows = [
        {
            "request_key": item.request.key,
            "scheduled_for": item.scheduled_for,
            "submitted_by": item.submitted_by,
            **request_columns(item.request),
        }
        for item in items
    ]
    taken = set(insert_pending(engine, rows))
    return [
        Problem(item.row, "request_id", f"{item.request.key!r} is already in the request table")
        for item in items
        if item.request.key in taken
    ]


def _check_row(
    number: int, raw: dict[str, Any], *, id_prefix: str, submitted_by: str | None
) -> tuple[list[Problem], QueuedRequest | None]:
    if "__error__" in raw:
        return [Problem(number, "row", raw["__error__"])], None
    conf = {key: value for key, value in raw.items() if key not in QUEUE_COLUMNS}
    request, found = checked_request(conf, default_id=f"{id_prefix}-{number}")
    problems = [Problem(number, field, message) for field, message in [*_queue_problems(raw), *found]]
    if problems or request is None:
        return problems, None
    return [], QueuedRequest(
        row=number,
        request=request,
        scheduled_for=_when(raw.get("scheduled_for")),
        submitted_by=raw.get("submitted_by") or submitted_by,
    )


def _queue_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    try:
        _when(raw.get("scheduled_for"))
    except ValueError:
        shown = raw["scheduled_for"]
        problems.append(("scheduled_for", f"must be a date and time like 2026-12-01T01:00+00:00 (got {shown!r})"))
    submitter = raw.get("submitted_by")
    if submitter is not None and not (isinstance(submitter, str) and ONE_LINE_NAME.fullmatch(submitter)):
        problems.append(("submitted_by", "must be a name of at most 200 characters on one line"))
    return problems


def _when(value: object) -> datetime | None:
    """An ISO 8601 time; one without a UTC offset is taken as UTC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(value)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def typed_cells(row: dict[str, str | None]) -> dict[str, Any]:
    """Text cells (a CSV row, command-line flags) typed as the request's schema says (empty cells left out)."""
    types = _field_types()
    typed: dict[str, Any] = {}
    for key, cell in row.items():
        if key is None:
            typed["__error__"] = "more cells than the header has columns"
            continue
        text = (cell or "").strip() if key != "script" else (cell or "")
        if not text.strip():
            continue
        typed[key] = _typed(text, types.get(key, frozenset()))
    return typed


@cache
def _field_types() -> dict[str, frozenset[str]]:
    """Each request field's JSON types (the schema is built once, not per row)."""
    types = {name: schema["type"] for name, schema in form_fields().items() if "type" in schema}
    return {name: frozenset(kind if isinstance(kind, list) else [kind]) for name, kind in types.items()}


def _json_or_text(text: str) -> Any:
    """A JSON object in its cell ({"de": "..."}); anything else is left as text, for the model to refuse."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _typed(text: str, kinds: frozenset[str]) -> Any:
    if "object" in kinds:
        return _json_or_text(text)
    if "array" in kinds:
        return [part.strip() for part in re.split(r"[;\n]", text) if part.strip()]
    if "boolean" in kinds and text.lower() in TRUE | FALSE:
        return text.lower() in TRUE
    if "integer" in kinds and re.fullmatch(r"[+-]?\d{1,18}", text):  # longer: left as text, refused by the model
        return int(text)
    if "number" in kinds and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", text):
        return float(text)
    return text
