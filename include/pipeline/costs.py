"""What the paid providers cost, from the provider-calls ledger: per video and per batch.

From a terminal: ``videoctl costs [--request KEY ...] [--since 2026-11-01] [--run RUN_ID] [--json]``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from pipeline.config import Settings
from pipeline.constants import ImageProviderId, ScriptSource, VoiceProviderId
from pipeline.db.schema import projects, provider_calls, requests


def price_usd(provider: str, model: str, unit_kind: str, units: float, settings: Settings) -> float:
    """Estimated price of ``units``; free providers (procedural, espeak, cached calls) cost nothing.

    Polly's ledger model is ``engine/voice``; its price per character depends on the engine.
    """
    if provider == VoiceProviderId.POLLY and unit_kind == "characters":
        per_million = {
            "neural": settings.prices.price_polly_neural_per_mchar,
            "standard": settings.prices.price_polly_standard_per_mchar,
            "long-form": settings.prices.price_polly_long_form_per_mchar,
            "generative": settings.prices.price_polly_generative_per_mchar,
        }.get(model.split("/", 1)[0], settings.prices.price_polly_neural_per_mchar)
        return units * per_million / 1_000_000
    rate = {
        (ScriptSource.GEMINI.value, "tokens"): settings.prices.price_gemini_per_mtoken / 1_000_000,
        (ImageProviderId.STABILITY.value, "credits"): settings.prices.price_stability_per_credit,
    }.get((provider, unit_kind), 0.0)
    return units * rate


def summary_line(row: dict[str, Any]) -> str:
    """``stability: 5 calls, 5 cached, 0 failed, 15 credits, $0.15`` of a priced row of :func:`report`."""
    return f"{row['provider']}: {usage_text(row)}"


def usage_text(row: dict[str, Any]) -> str:
    """``5 calls, 5 cached, 0 failed, 15 credits, $0.15`` of a priced row of :func:`report`."""
    return (
        f"{row['calls']} call{'' if row['calls'] == 1 else 's'}, {row['cached']} cached, {row['failed']} failed, "
        f"{_number(row['units'])} {row['unit_kind']}, ${row['usd']:.4f}"
    )


def ledger_rows(
    engine: Engine,
    *,
    request_keys: Sequence[str] = (),
    project_id: int | None = None,
    since: dt.datetime | None = None,
    run_id: str | None = None,
) -> list[dict[str, Any]]:
    """Per request, provider, model and unit: calls made, cached, failed, units paid for."""
    paid = provider_calls.c.outcome == "ok"
    query = (
        select(
            requests.c.request_key,
            projects.c.title,
            provider_calls.c.provider,
            provider_calls.c.model,
            provider_calls.c.unit_kind,
            func.count().filter(paid).label("calls"),
            func.count().filter(provider_calls.c.cached).label("cached"),
            func.count().filter(provider_calls.c.outcome.like("error%")).label("failed"),
            func.coalesce(func.sum(provider_calls.c.units).filter(paid), 0).label("units"),
        )
        .select_from(provider_calls.join(projects).join(requests))
        .group_by(
            requests.c.request_key,
            projects.c.title,
            provider_calls.c.provider,
            provider_calls.c.model,
            provider_calls.c.unit_kind,
        )
        .order_by(requests.c.request_key, provider_calls.c.provider)
    )
    if request_keys:
        query = query.where(requests.c.request_key.in_(list(request_keys)))
    if project_id is not None:
        query = query.where(provider_calls.c.project_id == project_id)
    if since is not None:
        query = query.where(provider_calls.c.created_at >= since)
    if run_id is not None:
        query = query.where(provider_calls.c.dag_run_id == run_id)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def report(rows: Iterable[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    """Rows priced (each with its own model's price), per video and provider, with the batch's totals."""
    videos: dict[str, dict[str, Any]] = {}
    batch: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        usd = price_usd(row["provider"], row["model"], row["unit_kind"], float(row["units"]), settings)
        video = videos.setdefault(row["request_key"], {"title": row["title"], "by_provider": {}, "usd": 0.0})
        video["usd"] += usd
        for totals in (video["by_provider"], batch):
            _add(totals, row, usd)
    for video in videos.values():
        video["providers"] = list(video.pop("by_provider").values())
    return {"videos": videos, "batch": list(batch.values()), "batch_usd": sum(t["usd"] for t in batch.values())}


def _add(totals: dict[tuple[str, str], dict[str, Any]], row: dict[str, Any], usd: float) -> None:
    total = totals.setdefault(
        (row["provider"], row["unit_kind"]),
        {
            "provider": row["provider"],
            "unit_kind": row["unit_kind"],
            "calls": 0,
            "cached": 0,
            "failed": 0,
            "units": 0.0,
            "usd": 0.0,
        },
    )
    for field in ("calls", "cached", "failed"):
        total[field] += row[field]
    total["units"] += float(row["units"])
    total["usd"] += usd


def print_report(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 120))  # request keys are up to 100 characters
    table = Table(title="Provider calls per video", show_lines=False)
    table.add_column("request", no_wrap=True)
    table.add_column("provider")
    for column in ("calls", "cached", "failed", "units", "USD"):
        table.add_column(column, justify="right", no_wrap=True)
    for key, video in data["videos"].items():
        for i, row in enumerate(video["providers"]):
            table.add_row(key if i == 0 else "", *_cells(row))
        table.add_row("", "[b]video total[/b]", "", "", "", "", f"[b]{video['usd']:.4f}[/b]", end_section=True)
    console.print(table)
    count = len(data["videos"])
    batch = Table(title=f"Batch: {count} video{'' if count == 1 else 's'}, ${data['batch_usd']:.4f}")
    for column in ("provider", "calls", "cached", "failed", "units", "USD"):
        batch.add_column(column, justify="left" if column == "provider" else "right")
    for total in data["batch"]:
        batch.add_row(*_cells(total))
    console.print(batch)


def _cells(row: dict[str, Any]) -> list[str]:
    """provider, calls, cached, failed, units, USD"""
    counts = [str(row[field]) for field in ("calls", "cached", "failed")]
    return [row["provider"], *counts, f"{_number(row['units'])} {row['unit_kind']}", f"{row['usd']:.4f}"]


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
