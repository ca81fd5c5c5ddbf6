"""Email when a video is finished or has failed: written to a local outbox, or sent over SMTP."""

from __future__ import annotations

from typing import Any, Literal

from airflow.providers.smtp.hooks.smtp import SmtpHook
from airflow.sdk import BaseHook, BaseNotifier
from airflow.sdk.exceptions import AirflowNotFoundException

from pipeline.config import load_settings
from pipeline.notify import build_message, failure_email, success_email, write_to_outbox
from video_factory.connections import VIDEO_DB_CONN_ID, video_repository
from video_factory.runs import request_key, run_url, task_label


class VideoOutcomeNotifier(BaseNotifier):
    """Tell the request's recipients that its video is ready, or why it could not be made.

    On failure it also makes sure the project is marked ``failed``, even when the task died without running its
    own failure callback.

    :param outcome: ``"success"`` or ``"failure"``.
    :param backend: ``"outbox"`` (``.eml`` files in ``$VIDEO_DATA_DIR/outbox``), ``"smtp"``, or ``"auto"``
        (SMTP when the SMTP connection exists); default from ``VIDEO_EMAIL_BACKEND``.
    :param smtp_conn_id: the SMTP connection used by the ``smtp`` backend.
    :param video_db_conn_id: the Postgres connection of the project's tables.
    """

    def __init__(
        self,
        *,
        outcome: Literal["success", "failure"],
        backend: Literal["auto", "outbox", "smtp"] | None = None,
        smtp_conn_id: str = "smtp_default",
        video_db_conn_id: str = VIDEO_DB_CONN_ID,
    ) -> None:
        super().__init__()
        self.outcome = outcome
        self.backend = backend
        self.smtp_conn_id = smtp_conn_id
        self.video_db_conn_id = video_db_conn_id

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        # Nothing is templated here; skipping also avoids dag.test()'s SerializedDAG lacking get_template_env.
        if self.template_fields:
            super().render_template_fields(context, jinja_env)

    def notify(self, context: Any) -> None:
        settings = load_settings()
        params = dict(context.get("params") or {}) or dict(context["dag_run"].conf or {})
        run_id = context["run_id"]
        dag_id = context["dag"].dag_id
        key = request_key(params, run_id)
        repository = video_repository(self.video_db_conn_id)
        summary = repository.project_summary(key)
        link = run_url(dag_id, run_id)

        if self.outcome == "success" and summary is not None:
            content = success_email(summary, run_url=link)
        else:
            ti = context.get("ti")
            task = task_label(ti) if ti is not None else "unknown"
            error = (summary or {}).get("error") or f"{task} failed; its log says why"
            if summary is not None and summary["status"] != "failed":
                repository.mark_failed(key, task_id=task, error=error)
            content = failure_email(
                title=(summary or {}).get("title") or params.get("title") or key,
                task_id=(summary or {}).get("failed_task") or task,
                error=error,
                try_number=getattr(ti, "try_number", None),
                log_url=getattr(ti, "log_url", "") or link,
                run_url=link,
            )
        recipients = list((summary or {}).get("notify_emails") or params.get("notify_emails") or []) or [
            settings.email_default_to
        ]
        backend = self.backend or settings.email_backend
        if backend == "auto":
            backend = "smtp" if _connection_exists(self.smtp_conn_id) else "outbox"
        if backend == "smtp":
            # SmtpHook, not SmtpNotifier: the notifier renders html_content as Jinja, and these mails quote
            # user-supplied titles and errors, which must never be evaluated as templates.
            with SmtpHook(smtp_conn_id=self.smtp_conn_id) as smtp:
                smtp.send_email_smtp(
                    to=recipients,
                    subject=content.subject,
                    html_content=content.html,
                    from_email=settings.email_from,
                )
        else:
            message = build_message(content, sender=settings.email_from, recipients=recipients)
            path = write_to_outbox(message, settings.outbox_dir)
            self.log.info("Wrote %s email to %s", self.outcome, path)


def _connection_exists(conn_id: str) -> bool:
    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True
