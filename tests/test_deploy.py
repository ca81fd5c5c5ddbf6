"""The deployment files, checked without a Docker engine or a cluster: docker-compose.yaml against the Compose
Specification's schema and against what the code reads (settings, connections, volumes, queues), .env.example
against the compose file, and the Airflow image's Dockerfile against the requirements."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values
from pydantic_settings import BaseSettings

from pipeline.config import Settings
from tools.stack import PROJECT_ROOT, RENDER_QUEUE
from video_factory.conn_ids import required_connections

COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
DOCKERFILE = PROJECT_ROOT / "docker" / "airflow.Dockerfile"
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-worker-render",
    "airflow-triggerer",
    "airflow-init",
}
# Compose's interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}; $$ is a $
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str, values: dict[str, str]) -> str:
    """The compose file as Compose reads it with ``values`` as its ``.env``; a required variable left empty fails."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = values.get(name)
        if op in (":-", "-") and (value is None or (op == ":-" and value == "")):
            return arg
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            raise ValueError(f"{name}: {arg}")
        return value or ""

    return _VARIABLE.sub(replace, text.replace("$$", "\0")).replace("\0", "$")


def filled_env_example() -> dict[str, str]:
    """.env.example with a value in every required (empty) setting, as a user fills it in."""
    values = {name: value or "" for name, value in dotenv_values(ENV_EXAMPLE).items()}
    return {name: value or f"filled-{name.lower()}" for name, value in values.items()}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(interpolate(COMPOSE.read_text(), filled_env_example())))


def service_env(compose: dict[str, Any], service: str) -> dict[str, str]:
    return {name: str(value) for name, value in compose["services"][service]["environment"].items()}


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert checker is not None
    done = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    healthcheck:\n", "    healthcheck: yes\n", 1))
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert checker is not None
    done = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(broken)], check=False, capture_output=True
    )
    assert done.returncode != 0


def test_the_services_follow_the_official_airflow_layout_plus_storage_and_mail(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert AIRFLOW_SERVICES | {"postgres", "redis", "minio", "minio-init", "mailpit", "flower"} == set(services)
    assert services["flower"]["profiles"] == ["flower"]
    common = service_env(compose, "airflow-scheduler")
    for name in AIRFLOW_SERVICES:
        env = service_env(compose, name)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        # one JWT secret and one database for every component
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == common["AIRFLOW__API_AUTH__JWT_SECRET"] != "", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert services[name]["image"] == services["airflow-scheduler"]["image"]
        assert services[name]["build"]["dockerfile"] == "docker/airflow.Dockerfile"
    # every long-running service says when it is healthy, and waits for what it needs to be healthy
    for name, service in services.items():
        if name not in {"airflow-init", "minio-init"}:
            assert "healthcheck" in service, name
        for needed, condition in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if needed.endswith("-init") else "service_healthy"
            assert condition["condition"] == expected, (name, needed)
            assert needed in services


def test_what_compose_publishes_listens_on_loopback_behind_logins(compose: dict[str, Any]) -> None:
    """Ports on 127.0.0.1 unless PUBLISH_ADDRESS says otherwise; the inbox and Flower ask for a login; the UI runs
    a production auth manager with its roles; connection secrets are encrypted; the factory never holds MinIO's
    root account."""
    published = {name: service["ports"] for name, service in compose["services"].items() if service.get("ports")}
    assert set(published) == {"minio", "mailpit", "airflow-apiserver", "flower"}
    for name, ports in published.items():
        assert all(str(port).startswith("127.0.0.1:") for port in ports), (name, ports)
    opened = yaml.safe_load(interpolate(COMPOSE.read_text(), {**filled_env_example(), "PUBLISH_ADDRESS": "0.0.0.0"}))
    assert opened["services"]["airflow-apiserver"]["ports"] == ["0.0.0.0:8080:8080"]
    admin = filled_env_example()["AIRFLOW_ADMIN_PASSWORD"]
    assert service_env(compose, "mailpit")["MP_UI_AUTH"] == f"admin:{admin}"
    assert service_env(compose, "flower")["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"] == f"admin:{admin}"
    for name in AIRFLOW_SERVICES:
        env = service_env(compose, name)
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("fab_auth_manager.FabAuthManager"), name
        assert "SIMPLE_AUTH_MANAGER_USERS" not in str(env)
        aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
        assert aws["login"] == "video-factory" and aws["password"] == filled_env_example()["MINIO_APP_PASSWORD"]
    init = compose["services"]["airflow-init"]["command"][-1]
    for user, role in (("admin", "Admin"), ("editor", "User"), ("viewer", "Viewer")):
        assert f"user {user} {role} " in init
    minio_init = compose["services"]["minio-init"]["command"][-1]
    assert "mc admin user add local video-factory" in minio_init and "arn:aws:s3:::" in minio_init
    assert '"s3:*"' not in minio_init  # the bucket's objects, nothing else
    empty_fernet = {**filled_env_example(), "AIRFLOW_FERNET_KEY": ""}
    with pytest.raises(ValueError, match="AIRFLOW_FERNET_KEY"):
        interpolate(COMPOSE.read_text(), empty_fernet)
    assert "Compose 2.24" in COMPOSE.read_text()


def test_renders_go_to_a_worker_of_their_own(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        assert service_env(compose, name)["VIDEO_RENDER_QUEUE"] == RENDER_QUEUE
    assert services["airflow-worker"]["command"].split()[:4] == ["celery", "worker", "--queues", "default"]
    assert services["airflow-worker-render"]["command"].split()[:4] == ["celery", "worker", "--queues", RENDER_QUEUE]


def test_every_setting_has_a_valid_value_or_a_documented_default(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = service_env(compose, "airflow-worker")
    known = _setting_names()
    assert {name for name in env if name.startswith("VIDEO_")} <= known, "a VIDEO_* the code does not read"
    docs = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    configuration = docs[: docs.index("## Data model")]
    documented = set(re.findall(r"`(VIDEO_[A-Z0-9_]+)`", configuration))
    assert known - set(env) <= documented, (
        f"settings with no value here and no documented default: {known - documented}"
    )
    for name in [n for n in os.environ if n.startswith("VIDEO_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("VIDEO_"):
            monkeypatch.setenv(name, value)
    settings = Settings()  # raises on any value the code would refuse
    assert settings.storage.storage_backend == "s3"
    assert settings.batch.render_queue == RENDER_QUEUE


def test_every_connection_the_code_needs_is_defined_and_parses(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models.connection import Connection

    env = service_env(compose, "airflow-worker")
    for name, value in env.items():
        if name.startswith("VIDEO_"):
            monkeypatch.setenv(name, value)
    defined = {
        name.removeprefix("AIRFLOW_CONN_").lower(): value for name, value in env.items() if "AIRFLOW_CONN_" in name
    }
    assert required_connections(Settings()) <= set(defined)
    for conn_id, value in defined.items():
        connection = Connection.from_json(value, conn_id=conn_id) if value.startswith("{") else Connection(uri=value)
        assert connection.conn_type in {"postgres", "aws", "smtp"}, conn_id
    aws = json.loads(defined["aws_default"])
    assert aws["extra"]["endpoint_url"] == "http://minio:9000" == env["VIDEO_S3_ENDPOINT_URL"]
    assert json.loads(defined["smtp_default"])["host"] == "mailpit"
    assert Connection(uri=defined["video_db"]).schema == "video_factory"


def test_a_paid_provider_needs_its_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEO_IMAGE_PROVIDER", "stability")
    monkeypatch.setenv("VIDEO_VOICE_PROVIDER", "polly")
    monkeypatch.setenv("VIDEO_STORAGE_BACKEND", "local")
    monkeypatch.setenv("VIDEO_EMAIL_BACKEND", "outbox")
    assert required_connections(Settings()) == {"video_db", "stability_default", "aws_default"}


def test_every_volume_is_declared_and_used(compose: dict[str, Any]) -> None:
    used = set()
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).exists(), source
            else:
                used.add(source)
    assert used == set(compose["volumes"])


def test_every_variable_of_the_compose_file_is_in_env_example_with_a_comment() -> None:
    referenced = {m["name"] for m in _VARIABLE.finditer(COMPOSE.read_text().replace("$$", ""))}
    documented = dotenv_values(ENV_EXAMPLE)
    assert referenced == set(documented), referenced ^ set(documented)
    lines = ENV_EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"[A-Z_]+=", line):
            assert any(lines[i].startswith("#") for i in range(max(0, index - 3), index)), line
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):  # an empty required secret stops compose
        interpolate(COMPOSE.read_text(), {k: v or "" for k, v in documented.items()})


def test_the_airflow_image_matches_the_requirements() -> None:
    dockerfile = DOCKERFILE.read_text()
    requirements = (PROJECT_ROOT / "requirements.txt").read_text()
    version = re.search(r"^apache-airflow==(\S+)$", requirements, re.MULTILINE)
    assert version is not None
    assert f"FROM apache/airflow:{version[1]}-python3.11" in dockerfile
    for source in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile, re.MULTILINE):
        for path in source.split():
            assert (PROJECT_ROOT / path).exists(), path
    for package in ("ffmpeg", "espeak-ng", "fonts-noto-cjk"):
        assert package in dockerfile
    assert "punkt_tab stopwords averaged_perceptron_tagger_eng" in dockerfile
    assert re.search(r"^USER airflow$", dockerfile.rstrip().rsplit("USER root", 1)[-1], re.MULTILINE)


def _setting_names() -> set[str]:
    names = set()
    for field, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            names |= {f"VIDEO_{name.upper()}" for name in annotation.model_fields}
        else:
            names.add(f"VIDEO_{field.upper()}")
    return names


# --- Kubernetes (deploy/kubernetes), checked offline: every manifest loads into the kubernetes client's models
# with no field left over, and the Helm values stay on the chart's keys ---

K8S = PROJECT_ROOT / "deploy" / "kubernetes"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name not in {"airflow-values.yaml", "kustomization.yaml"})


def _documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def _model_of(document: dict[str, Any]) -> Any:
    """The kubernetes client's model of a manifest (``V1Role`` for rbac.authorization.k8s.io/v1 Role)."""
    from kubernetes import client

    group_version = document["apiVersion"].split("/")
    version = group_version[-1].capitalize()
    klass = f"{version}{document['kind']}"
    api = client.ApiClient()
    return api._ApiClient__deserialize(document, klass), api  # type: ignore[attr-defined]


def _without_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_empty(v) for k, v in value.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


@pytest.mark.parametrize("document", _documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_loads_into_the_kubernetes_models_with_no_unknown_field(document: dict[str, Any]) -> None:
    model, api = _model_of(document)
    # a misspelt or misplaced field is dropped by the model: the round trip then differs from the file
    assert _without_empty(api.sanitize_for_serialization(model)) == _without_empty(document)


def test_the_round_trip_catches_a_misplaced_field() -> None:
    role = next(d for d in _documents() if d["kind"] == "Role")
    broken = {**role, "rules": [{**role["rules"][0], "verb": ["get"]}]}
    model, api = _model_of(broken)
    assert _without_empty(api.sanitize_for_serialization(model)) != _without_empty(broken)


def test_the_kustomization_lists_the_manifests() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {p.name for p in MANIFESTS} - {"render-data-pvc.yaml"}


def test_the_render_side_matches_the_settings_and_the_pod_the_dag_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    from video_factory.render_pod import render_pod_operator

    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in _documents()}
    settings = Settings().kubernetes
    namespace = settings.k8s_namespace
    assert ("Namespace", namespace) in by_kind
    account = by_kind["ServiceAccount", settings.k8s_service_account]
    assert account["metadata"]["namespace"] == namespace and account["automountServiceAccountToken"] is False
    # the render pods' Secret is made once by hand (docs/deploy.md), never by `kubectl apply -k`: a re-apply of an
    # empty template would blank the credentials of every render
    assert not [kind for kind, _ in by_kind if kind == "Secret"]
    deploy_doc = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    made = re.search(rf"create secret generic {settings.k8s_secret}[^`]*?\| kubectl apply -f -", deploy_doc, re.DOTALL)
    assert made is not None and all(
        f"--from-literal={key}=" in made[0]
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    )
    # the workers may create, follow and delete pods and read their logs in the render namespace, nothing else
    role = by_kind["Role", "render-pod-launcher"]
    rules = {resource: set(rule["verbs"]) for rule in role["rules"] for resource in rule["resources"]}
    assert {"create", "get", "watch", "delete"} <= rules["pods"]
    assert {"get"} <= rules["pods/log"]
    assert all("*" not in verbs for verbs in rules.values()) and "secrets" not in rules
    binding = by_kind["RoleBinding", "airflow-worker-launches-renders"]
    assert binding["roleRef"]["name"] == "render-pod-launcher"
    values = yaml.safe_load((K8S / "airflow-values.yaml").read_text())
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": values["workers"]["serviceAccount"]["name"], "namespace": "airflow"}
    ]
    # the NetworkPolicy selects exactly the render pods: no inbound traffic, outbound only DNS and the storage
    monkeypatch.setenv("VIDEO_RENDER_BACKEND", "kubernetes")
    pod = render_pod_operator(Settings(), task_id="render", spec_key="k").build_pod_request_obj(dry_run=True)
    policy = by_kind["NetworkPolicy", "render-pods-reach-only-storage"]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod.metadata.labels.items()
    assert policy["policyTypes"] == ["Ingress", "Egress"] and policy["ingress"] == []
    ports = sorted(port["port"] for rule in policy["egress"] for port in rule["ports"])
    assert ports == [53, 53, 9000]
    pvc = by_kind["PersistentVolumeClaim", "video-factory-data"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["metadata"]["namespace"] == namespace


def _key_paths(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict) and value:
        return [p for key, child in value.items() for p in _key_paths(child, f"{prefix}.{key}" if prefix else key)]
    return [prefix]


def test_the_helm_values_use_only_the_chart_s_keys() -> None:
    values = yaml.safe_load((K8S / "airflow-values.yaml").read_text())
    allowed = [line for line in (K8S / "chart-keys.txt").read_text().splitlines() if line and line[0] != "#"]

    def known(path: str) -> bool:
        return any(
            path == key or (key.endswith(".*") and (path == key[:-2] or path.startswith(key[:-1]))) for key in allowed
        )

    unknown = [path for path in _key_paths(values) if not known(path)]
    assert unknown == []
    assert not known("workers.keda.minReplicas") and not known("worker.replicas")  # the check can fail
    assert values["executor"] == "CeleryExecutor" and values["workers"]["keda"]["enabled"] is True
    env = {item["name"]: item["value"] for item in values["env"]}
    assert (
        env["VIDEO_RENDER_BACKEND"] == "kubernetes"
        and env["VIDEO_K8S_NAMESPACE"] == Settings().kubernetes.k8s_namespace
    )
    chart = os.environ.get("VIDEO_AIRFLOW_CHART_DIR")
    if chart:  # the chart's own schema, where the chart is at hand (helm pull apache-airflow/airflow --untar)
        import jsonschema

        schema = json.loads((Path(chart) / "values.schema.json").read_text())
        jsonschema.validate(values, schema)
