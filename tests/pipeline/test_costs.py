"""Prices from ledger rows: each row priced by its own model, then summed per video, provider and batch."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.config import Settings
from pipeline.costs import price_usd, report, summary_line


def _row(request: str, provider: str, model: str, unit_kind: str, *, calls: int, units: float, **counts: int) -> Any:
    return {
        "request_key": request,
        "title": request.title(),
        "provider": provider,
        "model": model,
        "unit_kind": unit_kind,
        "calls": calls,
        "cached": counts.get("cached", 0),
        "failed": counts.get("failed", 0),
        "units": units,
    }


def test_polly_is_priced_by_the_engine_that_spoke() -> None:
    settings = Settings()
    assert price_usd("polly", "neural/Joanna", "characters", 1_000_000, settings) == pytest.approx(16.0)
    assert price_usd("polly", "standard/Ivy", "characters", 1_000_000, settings) == pytest.approx(4.0)
    assert price_usd("polly", "long-form/Ruth", "characters", 1_000_000, settings) == pytest.approx(100.0)
    assert price_usd("stability", "core", "credits", 9, settings) == pytest.approx(0.09)
    assert price_usd("gemini", "gemini-2.5-flash", "tokens", 300, settings) == pytest.approx(0.00018)
    assert price_usd("espeak", "espeak-ng/en-us", "characters", 10_000, settings) == 0
    assert price_usd("procedural", "titlecard-v2", "images", 12, settings) == 0


def test_report_sums_per_video_and_per_batch() -> None:
    rows = [
        _row("a", "polly", "neural/Joanna", "characters", calls=2, units=500_000),
        _row("a", "polly", "standard/Ivy", "characters", calls=1, units=500_000, cached=2),
        _row("a", "stability", "core", "credits", calls=3, units=9, failed=2),
        _row("b", "stability", "core", "credits", calls=0, units=0, cached=3),
        _row("b", "gemini", "gemini-2.5-flash", "tokens", calls=1, units=1_000_000),
    ]
    data = report(rows, Settings())
    a, b = data["videos"]["a"], data["videos"]["b"]
    assert a["usd"] == pytest.approx(8.0 + 2.0 + 0.09) and b["usd"] == pytest.approx(0.60)
    polly = next(p for p in a["providers"] if p["provider"] == "polly")
    assert (polly["calls"], polly["cached"], polly["units"]) == (3, 2, 1_000_000)
    stability = next(t for t in data["batch"] if t["provider"] == "stability")
    assert (stability["calls"], stability["cached"], stability["failed"], stability["units"]) == (3, 3, 2, 9)
    assert data["batch_usd"] == pytest.approx(a["usd"] + b["usd"])
    assert summary_line(stability) == "stability: 3 calls, 3 cached, 2 failed, 9 credits, $0.0900"
