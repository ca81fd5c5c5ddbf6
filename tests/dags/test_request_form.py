"""The trigger form's Params are generated from the request model: both accept and refuse the same confs, and
importing the DAG file stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from airflow.serialization.definitions.param import SerializedParam, SerializedParamsDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import InvalidRequest
from pipeline.request import VideoRequest, checked_request, form_fields
from tools.stack import PROJECT_ROOT
from video_factory.params import request_params

FIELDS = form_fields()
HEAVY = ("nltk", "pandas", "boto3", "botocore", "google.genai", "PIL", "great_expectations")


def _server_params() -> SerializedParamsDict:
    """The Params as the API server holds them after the DAG is serialized (it validates a trigger's conf)."""
    return SerializedParamsDict(
        {name: SerializedParam(p.value, p.description, **p.schema) for name, p in request_params().items()}
    )


def schema_accepts(conf: dict[str, Any]) -> bool:
    try:
        _server_params().deep_merge(conf).validate()
    except Exception:
        return False
    return True


# the model's one rule across fields (a script with words, or a topic): Airflow's Params check each field alone and
# cannot say it, so the API's door (video_factory.api_errors) holds a trigger to it before a run is stored
ACROSS_FIELDS = ("give a script, or a topic", "has no words to narrate")


def model_accepts(conf: dict[str, Any]) -> bool:
    """Whether the model's rules of each field accept ``conf`` (the rule across fields is the door's, below)."""
    request, problems = checked_request(conf)
    return request is not None or all(any(rule in message for rule in ACROSS_FIELDS) for _, message in problems)


def _near(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values a person or a script might send for this field: valid ones, edge cases and wrong types."""
    any_json = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 2_000),
        st.floats(-5, 2_000, allow_nan=False),
        st.text(max_size=12),
        st.lists(st.text(max_size=12), max_size=3),
    )
    options = [any_json]
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
        options.append(st.sampled_from([float(v) for v in schema["enum"] if isinstance(v, int)] or [None]))
    if "maxLength" in schema:
        limit = schema["maxLength"]
        options.append(st.integers(max(0, limit - 1), limit + 1).map(lambda n: "x" * n))
        options.append(st.text(alphabet=" \t\n\u00a0\u3000\x1c\x00\x07\x85ab", max_size=4))
    if "minimum" in schema:
        low, high = schema["minimum"], schema["maximum"]
        options.append(st.sampled_from([low, high, low - 1, high + 1, high + 0.5, float(low)]))
    if "items" in schema or "array" in schema.get("type", []):
        email = st.sampled_from(["ops@example.com", "bad", "a@b", "x y@z.io", "<a@b.io>", "Ops@Example.COM"])
        options.append(st.lists(email, max_size=3))
        options.append(st.lists(st.just("a@b.io"), min_size=19, max_size=22))
    if "pattern" in schema:
        options.append(st.sampled_from(["ok-1", "has space", ".dot", "x" * 101, "music.mp3", "a/b", ""]))
    return st.one_of(*options)


@st.composite
def confs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid request with up to three fields set to anything near their schema (so both outcomes occur)."""
    conf: dict[str, Any] = {"title": draw(st.sampled_from(["Harbour", " Ünïcode title ", "x" * 200]))}
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=3, unique=True)):
        conf[name] = draw(_near(FIELDS[name]))
    if draw(st.booleans()):
        conf.pop("title")  # sometimes no title at all, or only what was drawn for it
    return conf


CONFS = confs()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONFS)
def test_the_param_schema_and_the_model_accept_and_refuse_the_same_confs(conf: dict[str, Any]) -> None:
    assert schema_accepts(conf) == model_accepts(conf), json.dumps(conf)[:300]


def test_both_accept_a_script_only_request_and_refuse_one_without_a_title() -> None:
    assert schema_accepts({"title": "Harbour", "script": "One."}) and model_accepts({"title": "Harbour"})
    assert not schema_accepts({"script": "One."}) and not model_accepts({"script": "One."})


@pytest.mark.parametrize("conf", [{"title": "Harbour"}, {"title": "Harbour", "script": "🎬 … !"}])
def test_what_the_params_cannot_say_the_door_refuses_before_a_run_is_stored(conf: dict[str, Any]) -> None:
    from video_factory.api_errors import trigger_problem

    assert schema_accepts(conf)  # Airflow alone would store the run, and register would fail it
    with pytest.raises(InvalidRequest):
        VideoRequest.from_conf(conf)
    problem = trigger_problem(json.dumps({"conf": conf}).encode())
    assert problem is not None and problem.startswith("invalid video request: script: ") and "\n" not in problem


def test_unknown_keys_pass_airflows_schema_and_are_refused_by_the_model() -> None:
    conf = {"title": "Harbour", "script": "One.", "colour": "red"}
    assert schema_accepts(conf) and not model_accepts(conf)


@pytest.mark.parametrize("dag_file", ["video_production.py", "nightly_batch.py"])
def test_importing_a_dag_file_imports_no_heavy_library(dag_file: str) -> None:
    probe = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('dag', sys.argv[1])\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe, str(PROJECT_ROOT / "dags" / dag_file)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(loaded.stdout.strip().splitlines()[-1]) == []


def test_what_every_task_imports_leaves_nltk_and_scipy_out() -> None:
    """The repository, the asset steps and the task context are imported by every task: NLTK (and the scipy it
    pulls in, about 2 s of CPU) only by the tasks that split or voice a script."""
    probe = (
        "import json, sys\n"
        "import pipeline.db, pipeline.assets, pipeline.production, video_factory.task, video_factory.batch\n"
        "print(json.dumps([m for m in ('nltk', 'scipy', 'pandas', 'great_expectations') if m in sys.modules]))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(loaded.stdout.strip().splitlines()[-1]) == []
