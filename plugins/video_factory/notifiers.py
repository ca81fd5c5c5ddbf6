"""Email when a video is finished or has failed: to a local outbox, over SMTP, or through Amazon SES."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any, Literal, cast

from airflow.providers.smtp.hooks.smtp import SmtpHook
from airflow.sdk import BaseHook, BaseNotifier
from airflow.sdk.exceptions import AirflowNotFoundException

from pipeline.config import Settings, load_settings
from pipeline.costs import ledger_rows, report, summary_line
from pipeline.notify import build_message, failure_email, success_email, write_to_outbox
from video_factory.connections import AWS_CONN_ID, VIDEO_DB_CONN_ID, aws_client, video_repository
from video_factory.runs import request_key, run_url, task_label

Backend = Literal["auto", "outbox", "smtp", "ses"]


class VideoOutcomeNotifier(BaseNotifier):
    """Tell the request's recipients that its video is ready, or why it could not be made.

    Every mail has a plain-text and an HTML part, built by ``pipeline.notify`` with every user-supplied string
    escaped; nothing is rendered as a template (``SmtpNotifier``/``SesNotifier`` would render the HTML as Jinja).
    On failure it also makes sure the project is marked ``failed``, even when the task died without running its
    own failure callback.

    :param outcome: ``"success"`` or ``"failure"``.
    :param backend: ``"outbox"`` (``.eml`` files in ``$VIDEO_DATA_DIR/outbox``), ``"smtp"``, ``"ses"``, or
        ``"auto"`` (SMTP when the SMTP connection exists, else the outbox); default ``VIDEO_EMAIL_BACKEND``.
    :param smtp_conn_id: the SMTP connection used by the ``smtp`` backend.
    :param aws_conn_id: the AWS connection used by the ``ses`` backend.
    :param video_db_conn_id: the Postgres connection of the project's tables.
    """

    def __init__(
        self,
        *,
        outcome: Literal["success", "failure"],
        backend: Backend | None = None,
        smtp_conn_id: str = "smtp_default",
        aws_conn_id: str = AWS_CONN_ID,
        video_db_conn_id: str = VIDEO_DB_CONN_ID,
    ) -> None:
        super().__init__()
        self.outcome = outcome
        self.backend = backend
        self.smtp_conn_id = smtp_conn_id
        self.aws_conn_id = aws_conn_id
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
            rows = ledger_rows(repository.engine, project_id=summary["id"], run_id=run_id)
            content = success_email(summary, run_url=link, costs=_cost_lines(rows, settings))
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
        message = build_message(content, sender=settings.email_from, recipients=recipients)
        self.deliver(message, recipients, settings)

    def deliver(self, message: EmailMessage, recipients: list[str], settings: Settings) -> None:
        backend = self.backend or settings.email_backend
        if backend == "auto":
            backend = "smtp" if _connection_exists(self.smtp_conn_id) else "outbox"
        if backend == "smtp":
            with SmtpHook(smtp_conn_id=self.smtp_conn_id) as smtp:
                # The hook only builds HTML-only mails; its connected client sends ours (text + HTML) as is,
                # the way the hook's own test_connection uses it.
                client = cast("smtplib.SMTP", smtp._smtp_client)
                client.send_message(message, to_addrs=recipients)
        elif backend == "ses":
            aws_client("ses", self.aws_conn_id).send_raw_email(
                Source=settings.email_from, Destinations=recipients, RawMessage={"Data": message.as_bytes()}
            )
        else:
            path = write_to_outbox(message, settings.outbox_dir)
            self.log.info("Wrote %s email to %s", self.outcome, path)
            return
        self.log.info("Sent %s email to %d recipients over %s", self.outcome, len(recipients), backend)


def _cost_lines(rows: list[dict[str, Any]], settings: Settings) -> list[tuple[str, str]]:
    """``("Provider cost", "$0.0421")`` then one line per provider, for this run."""
    priced = report(rows, settings)
    lines = [("Provider cost", f"${priced['batch_usd']:.4f} (estimated)")]
    lines.extend((f"  {row['provider']}", summary_line(row).split(": ", 1)[1]) for row in priced["batch"])
    return lines


def _connection_exists(conn_id: str) -> bool:
    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True
