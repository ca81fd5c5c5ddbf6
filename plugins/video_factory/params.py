"""The trigger form of ``video_production``: Airflow Params generated from the one request model."""

from __future__ import annotations

from airflow.sdk import Param

from pipeline.request import form_fields
from video_factory.param_dialect import PARAM_DIALECT

# Airflow validates every Param at each task instance's start (four times) and when the DAG processor serializes each
# task, with ``jsonschema.validate``: it checks the schema against its metaschema every time. Without "$schema" that
# is draft 2020-12's (eight documents with dynamic references, three times draft 7's CPU); the project's own dialect
# is draft 7 checked by shape only (param_dialect.py: 2.5 ms for the form's fields where draft 7 took 11.4 ms).


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
        fields["$schema"] = PARAM_DIALECT
        params[name] = Param(default, description=fields.pop("description", None), **fields)
    return params
