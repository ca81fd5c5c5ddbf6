"""The trigger form of ``video_production``: Airflow Params generated from the one request model."""

from __future__ import annotations

from airflow.sdk import Param

from pipeline.request import form_fields


def request_params() -> dict[str, Param]:
    """One Param per flat request field, in form order.

    A field without a default (the title) gets the value None, which its non-nullable type refuses: the form
    marks it required and a trigger without it is refused with HTTP 400. (A Param with no value at all breaks
    Airflow 3.3.2's ``dag.test()`` DAG callbacks, which resolve every Param before the run's conf is applied.)
    """
    params = {}
    for name, schema in form_fields().items():
        fields = dict(schema)
        default = fields.pop("default", None)
        params[name] = Param(default, description=fields.pop("description", None), **fields)
    return params
