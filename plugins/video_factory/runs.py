"""What a DAG run is about: its request key, and links into the Airflow UI."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pipeline.config import load_settings
from pipeline.names import safe_name


def run_params(context: Any) -> dict[str, Any] | None:
    """A DAG callback's request (its params, else the run's conf); None when Airflow passed no task instance,
    which it does when every task of the run was skipped (a run that another run's video stands for)."""
    if "params" not in context and "dag_run" not in context:
        return None
    return dict(context.get("params") or {}) or dict(context["dag_run"].conf or {})


def request_key(params: dict[str, Any], run_id: str) -> str:
    """The request this run serves: the ``request_id`` param, or one derived from the run id."""
    given = params.get("request_id")
    return given.strip() if isinstance(given, str) and given.strip() else request_id_from_run(run_id)


def request_id_from_run(run_id: str) -> str:
    """A request id for a run submitted without one (``manual__2026-...`` -> ``manual__2026-...``, cleaned)."""
    return safe_name(run_id, limit=100, fallback="request")


def videos_page_url(request_key: str) -> str:
    """The video's page on the Videos page, inside Airflow's UI (Plugins → Videos, opened at this video): the file is
    served from there, or by a short-lived S3 link made when it is opened."""
    base = load_settings().airflow_ui_url.rstrip("/")
    return f"{base}/plugin/videos/video-factory/videos#video={quote(request_key, safe='')}"


def run_url(dag_id: str, run_id: str) -> str:
    base = load_settings().airflow_ui_url.rstrip("/")
    return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def task_label(ti: Any) -> str:
    """``voice[3]`` for a mapped instance, ``render`` otherwise."""
    map_index = getattr(ti, "map_index", -1)
    return f"{ti.task_id}[{map_index}]" if map_index is not None and map_index >= 0 else ti.task_id
