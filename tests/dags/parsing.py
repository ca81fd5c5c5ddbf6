"""Parsing the DAG the way the dag-processor does: once per test that runs it (dag.test() keeps a run's conf)."""

from __future__ import annotations

from typing import Any

from airflow.dag_processing.dagbag import DagBag

from pipeline.constants import DagId
from tools.stack import PROJECT_ROOT


def parse_dag(dag_id: str = DagId.VIDEO) -> Any:
    """A freshly parsed DAG (settings read now); fails on any import error."""
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]
