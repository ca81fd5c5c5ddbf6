"""The DAG imports cleanly, has the designed shape, and its Param schema refuses bad conf."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions.mappedoperator import MappedOperator
from airflow.sdk.exceptions import ParamValidationError

from pipeline.constants import DagId
from tests.dags.parsing import parse_dag
from tools.stack import PROJECT_ROOT
from video_factory.errors import ProviderRetryPolicy

VALID = {"title": "Harbour", "script": "One.", "voice": "en-us", "aspect": "9:16", "resolution": 1080}


def _merged(dag: Any, conf: dict[str, Any]) -> Any:
    """The DAG's params with ``conf`` laid over them, as a trigger does (assigning validates each value)."""
    params = copy.deepcopy(dag.params)
    params.update(conf)
    return params


@pytest.fixture(scope="module")
def dag() -> Any:
    return parse_dag()


def test_every_dag_file_imports_without_errors() -> None:
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    assert DagId.VIDEO in bag.dags


def test_pipeline_shape(dag: Any) -> None:
    # a task instance costs the stack about a second of CPU: no step nobody watches on its own is a task
    assert {t.task_id for t in dag.tasks} == {
        "register", "script", "review", "translate", "media", "voice", "render", "publish"
    }  # fmt: skip
    downstream = {t.task_id: {d.task_id for d in t.downstream_list} for t in dag.tasks}
    assert downstream["register"] == {"script", "translate", "render", "publish"}
    assert downstream["script"] == {"review"}
    assert downstream["review"] == {"media", "translate", "voice"}  # the editor's answer, before any paid call
    assert downstream["translate"] == {"voice", "render"}  # every language's narration; pictures once
    assert downstream["media"] == downstream["voice"] == {"render"}
    assert downstream["render"] == {"publish"}
    media = dag.get_task("media")
    assert media.map_index_template == "{{ scene_label }}"
    assert isinstance(media, MappedOperator)
    assert isinstance(dag.get_task("voice"), MappedOperator)
    for version_task in ("render", "publish"):  # one instance per language version, retried on its own
        task = dag.get_task(version_task)
        assert isinstance(task, MappedOperator) and task.map_index_template == "{{ version_label }}"


def test_params_name_a_schema_dialect_cheap_to_check_and_are_valid_draft_7(dag: Any) -> None:
    # every task instance's start validates every Param, checking its schema against the dialect's metaschema:
    # the project's dialect checks the shape only (2020-12's, the default, is eight documents with dynamic
    # references); that each schema is valid draft 7 is checked here, once
    from jsonschema import Draft7Validator
    from jsonschema.validators import validator_for

    from video_factory.param_dialect import ParamValidator

    assert dag.params and all(validator_for(param.schema) is ParamValidator for param in dag.params.values())
    for param in dag.params.values():
        Draft7Validator.check_schema(param.schema)


def test_no_task_pushes_its_result_key_by_key() -> None:
    # Airflow infers multiple_outputs from a "-> dict" annotation: each key an XCom of its own, one Execution API
    # call per key and task instance (media and voice: eleven each); every reader takes the whole value
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    pushing = [
        f"{dag.dag_id}.{task.task_id}"
        for dag in bag.dags.values()
        for task in dag.tasks
        if getattr(task, "multiple_outputs", False)
    ]
    assert len(bag.dags) == 3 and pushing == []


def test_retries_back_off_exponentially_and_failures_are_recorded(dag: Any) -> None:
    task = dag.get_task("render")
    assert task.retries >= 1
    assert task.retry_exponential_backoff == 2.0  # a multiplier in Airflow 3.3; True would mean 1.0
    assert task.on_failure_callback
    assert dag.on_success_callback and dag.on_failure_callback


def test_valid_conf_passes_the_schema(dag: Any) -> None:
    params = _merged(dag, VALID)
    params.validate()
    assert params["resolution"] == 1080
    chosen = _merged(dag, {**VALID, "image_provider": "stability", "voice_provider": "polly", "tone": "calm"})
    chosen.validate()
    assert (chosen["image_provider"], chosen["voice_provider"]) == ("stability", "polly")
    assert _merged(dag, VALID)["image_provider"] is None  # empty: the configured default


def test_every_task_honours_retry_after(dag: Any) -> None:
    assert all(isinstance(task.retry_policy, ProviderRetryPolicy) for task in dag.tasks)


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"script": "x" * 20_001}, "script"),
        ({"aspect": "4:3"}, "aspect"),
        ({"resolution": 480}, "resolution"),
        ({"resolution": "720"}, "resolution"),
        ({"notify_emails": ["not-an-email"]}, "notify_emails"),
        ({"notify_emails": "ops@example.com"}, "notify_emails"),
        ({"request_id": "has spaces"}, "request_id"),
        ({"voice": ""}, "voice"),
        ({"image_provider": "dall-e"}, "image_provider"),
        ({"voice_provider": "elevenlabs"}, "voice_provider"),
        ({"target_duration_s": 5}, "target_duration_s"),
        ({"tone": "x" * 201}, "tone"),
        ({"media_sources": ["youtube"]}, "media_sources"),
        ({"media_sources": ["library", "pexels", "library"]}, "media_sources"),
        ({"captions": "comic-sans"}, "captions"),
        ({"clip_fit": "stretch"}, "clip_fit"),
    ],
)
def test_schema_rejects_bad_conf(dag: Any, conf: dict[str, Any], field: str) -> None:
    with pytest.raises(ParamValidationError, match=field):
        _merged(dag, {**VALID, **conf}).validate()


def test_params_explain_themselves_in_the_trigger_form(dag: Any) -> None:
    for name, param in dag.params.items():
        assert param.schema.get("title"), f"param {name} has no title"
