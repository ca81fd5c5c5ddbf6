"""The JSON Schema dialect the trigger form's Params name: draft 7's keywords, checked cheaply at run time.

Airflow validates every Param of ``video_production`` at each task instance's start (four times: the run's conf
merged, then the whole dict, for the runner and again for the template context) with ``jsonschema.validate``, which
first checks the Param's own schema against its dialect's metaschema: for draft 7 that was 93 % of the 11 ms a
validation of the form's 29 fields costs, 19 % of the task processes' samples in a batch's profile (docs/benchmarks.md,
"Orchestration CPU").
The schemas are the product's own, generated from the request model, and proven valid draft 7 by the test suite
(``tests/dags/test_dag_integrity.py``); at run time this dialect checks only their shape. The values are validated
exactly as before: the same keywords, types and formats as ``Draft7Validator``.

``jsonschema`` finds the dialect by the ``$schema`` URI; registering it is importing this module (done by
``airflow_local_settings`` in every Airflow process, and by the DAG file). A process that has not would validate with
jsonschema's latest draft (a warning, the same verdict for these schemas, the old cost).
"""

from __future__ import annotations

from jsonschema import Draft7Validator, validators
from referencing.jsonschema import DRAFT7

PARAM_DIALECT = "urn:video-factory:param-schema:draft-07"
META_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": PARAM_DIALECT,
    "type": "object",
}

ParamValidator = validators.create(
    meta_schema=META_SCHEMA,
    validators=Draft7Validator.VALIDATORS,
    type_checker=Draft7Validator.TYPE_CHECKER,
    format_checker=Draft7Validator.FORMAT_CHECKER,
    id_of=DRAFT7.id_of,
    version="video-factory-param-draft-07",
)
