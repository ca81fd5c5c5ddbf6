"""Credentials the DAG layer resolves from Airflow connections and hands to the core."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ApiKey:
    """An API key and, for a stand-in or a proxy, the base URL to use instead of the provider's own."""

    key: str = field(repr=False)
    base_url: str | None = None
