"""Email when a video is finished or has failed: to a local outbox, over SMTP, or through Amazon SES."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseNotifier

from pipeline.constants import ProjectStatus
from video_factory.conn_ids import AWS_CONN_ID, SMTP_CONN_ID, VIDEO_DB_CONN_ID
from video_factory.runs import request_key, run_params, run_url, task_label, videos_page_url

if TYPE_CHECKING:
    from email.message import EmailMessage

    from pipeline.config import Settings
    from pipeline.db import VideoRepository
    from pipeline.models import ProjectSummary

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
        smtp_conn_id: str = SMTP_CONN_ID,
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
        from pipeline.config import load_settings
        from pipeline.notify import build_message
        from video_factory.connections import video_repository

        run_id, params = context["run_id"], run_params(context)
        if params is None:  # every task was skipped at register: another run makes the video, or it is made already
            self.log.info("Run %s does not make a video (every task was skipped): no email from it", run_id)
            return
        settings = load_settings()
        key = request_key(params, run_id)
        repository = video_repository(self.video_db_conn_id)
        summary = repository.project_summary(key)
        owner = summary.dag_run_id if summary is not None else None
        if owner is not None and owner != run_id:  # a run that ended early beside the one making the video
            self.log.info("Run %s does not make request %s's video (run %s does): no email from it", run_id, key, owner)
            return
        content, recipients, what = self.compose(context, params, summary, repository, settings)
        # one email per outcome: a cleared task that fails again the same way mails nobody a second time
        fingerprint = hashlib.sha256("\0".join([run_id, self.outcome, *what]).encode()).hexdigest()
        if not repository.claim_notification(key, dag_run_id=run_id, outcome=self.outcome, fingerprint=fingerprint):
            self.log.info("The %s email of run %s went out already; not sending it again", self.outcome, run_id)
            return
        message = build_message(content, sender=settings.email.email_from, recipients=recipients)
        try:
            self.deliver(message, recipients, settings)
        except Exception:
            repository.release_notification(fingerprint)  # not sent: a later callback may send it
            raise

    def compose(
        self,
        context: Any,
        params: dict[str, Any],
        summary: ProjectSummary | None,
        repository: VideoRepository,
        settings: Settings,
    ) -> tuple[Any, list[str], tuple[str, ...]]:
        """The email's content, its recipients, and what makes this outcome distinct (the failed task and its
        reason: a new try of the same failure is no new outcome), from the project's row (``summary``, None when
        the request never got one) and the ledger."""
        from pipeline.costs import ledger_rows, report
        from pipeline.notify import failure_email, rejection_email, success_email

        run_id, dag_id = context["run_id"], context["dag"].dag_id
        key = request_key(params, run_id)
        link = run_url(dag_id, run_id)
        if summary is not None and summary.status == ProjectStatus.REJECTED:  # the run succeeded in not making it
            content = rejection_email(title=summary.title, reason=summary.error or "rejected", run_url=link)
            what: tuple[str, ...] = ("review", summary.error or "")
        elif self.outcome == "success" and summary is not None:
            priced = report(ledger_rows(repository.engine, project_id=summary.id, run_id=run_id), settings)
            content = success_email(summary, run_url=link, page_url=videos_page_url(key), costs=cost_lines(priced))
            what = ()
        else:
            ti = context.get("ti")
            task = task_label(ti) if ti is not None else "unknown"
            error = (summary.error if summary else None) or f"{task} failed: open its log (link below) for the reason"
            content = failure_email(
                title=(summary.title if summary else None) or params.get("title") or key,
                task_id=(summary.failed_task if summary else None) or task,
                error=error,
                try_number=getattr(ti, "try_number", None),
                log_url=getattr(ti, "log_url", "") or link,
                run_url=link,
            )
            what = ((summary.failed_task if summary else None) or task, error)
        emails = (summary.notify_emails if summary else None) or params.get("notify_emails") or []
        return content, list(emails) or [settings.email.email_default_to], what

    def deliver(self, message: EmailMessage, recipients: list[str], settings: Settings) -> None:
        how = send_email(
            message,
            recipients,
            settings,
            backend=self.backend,
            smtp_conn_id=self.smtp_conn_id,
            aws_conn_id=self.aws_conn_id,
        )
        self.log.info(
            "%s the %s email to %d recipient(s) (%s)",
            "Sent" if how != "outbox" else "Wrote",
            self.outcome,
            len(recipients),
            how,
        )


def send_email(
    message: EmailMessage,
    recipients: list[str],
    settings: Settings,
    *,
    backend: Backend | None = None,
    smtp_conn_id: str = SMTP_CONN_ID,
    aws_conn_id: str = AWS_CONN_ID,
) -> str:
    """Send ``message`` by the configured backend; returns which one (``smtp``, ``ses`` or ``outbox``)."""
    import smtplib
    from typing import cast

    from airflow.providers.smtp.hooks.smtp import SmtpHook

    from pipeline.notify import write_to_outbox
    from video_factory.connections import aws_client

    backend = backend or settings.email.email_backend
    if backend == "auto":
        backend = "smtp" if _connection_exists(smtp_conn_id) else "outbox"
    if backend == "smtp":
        with SmtpHook(smtp_conn_id=smtp_conn_id) as smtp:
            # The hook only builds HTML-only mails; its connected client sends ours (text + HTML) as is,
            # the way the hook's own test_connection uses it.
            client = cast("smtplib.SMTP", smtp._smtp_client)
            client.send_message(message, to_addrs=recipients)
    elif backend == "ses":
        from pipeline.aws import aws_error

        try:
            aws_client("ses", aws_conn_id).send_raw_email(
                Source=settings.email.email_from, Destinations=recipients, RawMessage={"Data": message.as_bytes()}
            )
        except Exception as exc:  # one classification for every AWS service: the log gets one clear line
            raise aws_error("ses", exc) from None
    else:
        write_to_outbox(message, settings.outbox_dir)
    return backend


def cost_lines(priced: dict[str, Any]) -> list[tuple[str, str]]:
    """``("Provider cost", "$0.0421 (estimated)")`` then one line per provider, from a priced ledger report."""
    from pipeline.costs import usage_text

    lines = [("Provider cost", f"${priced['batch_usd']:.4f} (estimated)")]
    lines.extend((f"  {row['provider']}", usage_text(row)) for row in priced["batch"])
    return lines


def _connection_exists(conn_id: str) -> bool:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True
