"""The render as a Kubernetes pod: the same entry point and spec as the local subprocess, in a slim image."""

from __future__ import annotations

from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from kubernetes.client import models as k8s

from pipeline.config import Settings

RENDER_USER = 10001  # the non-root user of docker/render.Dockerfile


def render_pod_operator(settings: Settings, *, task_id: str, spec_key: str, **kwargs: Any) -> KubernetesPodOperator:
    """``python -m pipeline.render --spec SPEC_KEY`` in its own pod; its JSON result comes back as the XCom.

    Only the spec's storage key is on the command line. Credentials reach the pod from the Kubernetes Secret
    ``settings.kubernetes.k8s_secret`` (as environment variables), never as literal values in the task's arguments.
    """
    return KubernetesPodOperator(task_id=task_id, arguments=pod_arguments(spec_key), **pod_settings(settings), **kwargs)


def mapped_render_pods(settings: Settings, *, task_id: str, spec_keys: Any, **kwargs: Any) -> Any:
    """One render pod per language version: the same pod as ``render_pod_operator``, mapped over the spec keys
    (an XComArg), each instance labelled with its version's language."""
    return KubernetesPodOperator.partial(
        task_id=task_id,
        map_index_template="{{ task.arguments[1].rsplit('/', 1)[-1] }}",
        **pod_settings(settings),
        **kwargs,
    ).expand(arguments=spec_keys.map(pod_arguments))


def pod_arguments(spec_key: str) -> list[str]:
    """The entry point's arguments for one spec (the try number is rendered by Airflow)."""
    return ["--spec", spec_key, "--attempt", "{{ ti.try_number }}"]


def pod_settings(settings: Settings) -> dict[str, Any]:
    """Everything of the render pod but its task id and arguments."""
    pod = settings.kubernetes
    env = {
        "VIDEO_STORAGE_BACKEND": settings.storage.storage_backend,
        "VIDEO_DATA_DIR": pod.k8s_data_dir if pod.k8s_data_pvc else "/tmp/video-factory",
        "VIDEO_RENDER_TIMEOUT_S": str(int(settings.render_timeout_s)),
    }
    if settings.storage.storage_backend == "s3":  # where, not how to get in: the keys come from the Secret
        storage = settings.storage
        location = {
            "VIDEO_S3_BUCKET": storage.s3_bucket,
            "VIDEO_S3_PREFIX": storage.s3_prefix,
            "VIDEO_S3_ENDPOINT_URL": storage.s3_endpoint_url,
            "VIDEO_S3_SERVER_SIDE_ENCRYPTION": storage.s3_server_side_encryption,
        }
        env.update({name: value for name, value in location.items() if value})
    volumes, mounts = [], []
    if pod.k8s_data_pvc:
        volumes.append(
            k8s.V1Volume(
                name="video-data",
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=pod.k8s_data_pvc),
            )
        )
        mounts.append(k8s.V1VolumeMount(name="video-data", mount_path=pod.k8s_data_dir))
    return dict(
        name="video-render",
        namespace=pod.k8s_namespace,
        image=pod.k8s_image,
        cmds=["python", "-m", "pipeline.render"],
        env_vars=[k8s.V1EnvVar(name=name, value=value) for name, value in env.items()],
        secrets=[Secret("env", None, pod.k8s_secret)],
        service_account_name=pod.k8s_service_account,
        automount_service_account_token=False,
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": pod.k8s_cpu_request, "memory": pod.k8s_memory_request},
            limits={"cpu": pod.k8s_cpu_limit, "memory": pod.k8s_memory_limit},
        ),
        security_context=k8s.V1PodSecurityContext(
            run_as_non_root=True, run_as_user=RENDER_USER, run_as_group=RENDER_USER, fs_group=RENDER_USER
        ),
        container_security_context=k8s.V1SecurityContext(
            allow_privilege_escalation=False,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
        volumes=volumes,
        volume_mounts=mounts,
        kubernetes_conn_id=pod.k8s_conn_id,
        do_xcom_push=True,
        get_logs=True,
        on_finish_action="delete_pod",
        labels={"app.kubernetes.io/name": "video-factory", "app.kubernetes.io/component": "render"},
    )
