"""The trigger form of ``video_production``: Airflow Params generated from the one request model."""

from __future__ import annotations

from airflow.sdk import Param

from pipeline.request import form_fields

# Airflow validates every Param at each task instance's start (twice for a mapped one) and when the DAG processor
# serializes each task, with ``jsonschema.validate``: it checks the schema against its metaschema every time. Without
# "$schema" that is draft 2020-12's, spread over eight vocabulary documents with dynamic references; draft 7's is one
# document and a third of the CPU (5.6 ms instead of 16 ms for the form's fields), and the fields use nothing newer.
SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"


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
        fields["$schema"] = SCHEMA_DIALECT
        params[name] = Param(default, description=fields.pop("description", None), **fields)
    return params
