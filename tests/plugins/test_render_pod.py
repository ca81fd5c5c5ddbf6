"""The render pod as Kubernetes would receive it (built with build_pod_request_obj, no cluster needed)."""

from __future__ import annotations

import json

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk.definitions.mappedoperator import MappedOperator

from pipeline.config import Settings
from pipeline.constants import DagId
from tools.stack import PROJECT_ROOT
from video_factory.render_pod import RENDER_USER, render_pod_operator

SPEC_KEY = "renders/req-1/run-1/spec.json"


@pytest.fixture
def pod_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("VIDEO_RENDER_BACKEND", "kubernetes")
    monkeypatch.setenv("VIDEO_K8S_IMAGE", "registry.example.com/video-render:1.2.3")
    monkeypatch.setenv("VIDEO_K8S_NAMESPACE", "media")
    monkeypatch.setenv("VIDEO_K8S_DATA_PVC", "video-data")
    monkeypatch.setenv("VIDEO_K8S_CPU_LIMIT", "3")
    return Settings()


def test_pod_runs_the_entry_point_with_only_the_spec_location(pod_settings: Settings) -> None:
    pod = render_pod_operator(pod_settings, task_id="render", spec_key=SPEC_KEY).build_pod_request_obj(
        context=None, dry_run=True
    )
    (container,) = [c for c in pod.spec.containers if c.name == "base"]
    assert pod.metadata.namespace == "media"
    assert container.image == "registry.example.com/video-render:1.2.3"
    assert container.command == ["python", "-m", "pipeline.render"]
    assert container.args == ["--spec", SPEC_KEY, "--attempt", "{{ ti.try_number }}"]  # rendered by Airflow
    assert container.resources.requests == {"cpu": "1", "memory": "512Mi"}
    assert container.resources.limits == {"cpu": "3", "memory": "1536Mi"}
    assert pod.spec.service_account_name == "video-render"


def test_pod_is_non_root_and_gets_credentials_only_by_secret_reference(
    pod_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # secrets the Airflow worker holds must not travel into the pod spec
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret-aws-0001")
    monkeypatch.setenv("AIRFLOW_CONN_STABILITY_DEFAULT", '{"conn_type": "http", "password": "worker-secret-key-0002"}')
    pod = render_pod_operator(pod_settings, task_id="render", spec_key=SPEC_KEY).build_pod_request_obj(
        context=None, dry_run=True
    )
    (container,) = [c for c in pod.spec.containers if c.name == "base"]
    assert pod.spec.security_context.run_as_non_root is True
    assert pod.spec.security_context.run_as_user == RENDER_USER != 0
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]
    assert [source.secret_ref.name for source in container.env_from] == ["video-factory-render"]
    env = {var.name: var.value for var in container.env}
    assert env["VIDEO_DATA_DIR"] == "/data"
    assert set(env) == {"VIDEO_STORAGE_BACKEND", "VIDEO_DATA_DIR", "VIDEO_RENDER_TIMEOUT_S"}  # an allow-list
    serialised = json.dumps(pod.to_dict(), default=str)
    assert "worker-secret" not in serialised
    assert pod.spec.automount_service_account_token is False  # the render never talks to the Kubernetes API
    assert [m.mount_path for m in container.volume_mounts if m.name == "video-data"] == ["/data"]
    (data,) = [v for v in pod.spec.volumes if v.name == "video-data"]
    assert data.persistent_volume_claim.claim_name == "video-data"


def test_with_s3_storage_the_pod_is_told_the_bucket_and_gets_the_keys_from_its_secret(
    pod_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "VIDEO_STORAGE_BACKEND": "s3",
        "VIDEO_S3_BUCKET": "videos",
        "VIDEO_S3_ENDPOINT_URL": "http://minio:9000",
        "VIDEO_K8S_DATA_PVC": "",
        "AWS_ACCESS_KEY_ID": "worker-key-id",
        "AWS_SECRET_ACCESS_KEY": "worker-secret-aws",
    }.items():
        monkeypatch.setenv(name, value)
    pod = render_pod_operator(Settings(), task_id="render", spec_key=SPEC_KEY).build_pod_request_obj(
        context=None, dry_run=True
    )
    (container,) = [c for c in pod.spec.containers if c.name == "base"]
    env = {var.name: var.value for var in container.env}
    assert env == {
        "VIDEO_STORAGE_BACKEND": "s3",
        "VIDEO_DATA_DIR": "/tmp/video-factory",
        "VIDEO_RENDER_TIMEOUT_S": "3600",
        "VIDEO_S3_BUCKET": "videos",
        "VIDEO_S3_ENDPOINT_URL": "http://minio:9000",
    }
    assert "worker-" not in json.dumps(pod.to_dict(), default=str)
    assert not pod.spec.volumes or all(v.name != "video-data" for v in pod.spec.volumes)


def test_dag_renders_in_a_pod_when_configured(pod_settings: Settings) -> None:
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags[DagId.VIDEO]
    render = dag.get_task("render")
    # one pod per language version: the KubernetesPodOperator mapped over the render specs' keys
    assert isinstance(render, MappedOperator) and render.operator_class is KubernetesPodOperator
    assert render.partial_kwargs["do_xcom_push"] and render.partial_kwargs["on_finish_action"] == "delete_pod"
    mapped = render.expand_input.value["arguments"]
    assert mapped.arg.operator.task_id == "render_spec"
    assert [mapped.callables[0](key) for key in ("renders/r/run/spec.json", "renders/r/run/spec.de.json")] == [
        ["--spec", "renders/r/run/spec.json", "--attempt", "{{ ti.try_number }}"],
        ["--spec", "renders/r/run/spec.de.json", "--attempt", "{{ ti.try_number }}"],
    ]
    assert render.partial_kwargs["retries"] >= 1
    assert {t.task_id for t in render.upstream_list} == {"render_spec"}
    assert {t.task_id for t in render.downstream_list} == {"publish"}
