"""Names used in many places, defined once: DAG ids, statuses, provider and connection names.

Each is a ``StrEnum``: a member is the string itself (``DagId.VIDEO == "video_production"``), so it goes into SQL,
JSON and f-strings as it is. Imports nothing: the DAG files, the render image and the CLI all use it.
"""

from __future__ import annotations

from enum import StrEnum


class DagId(StrEnum):
    VIDEO = "video_production"  # one run per video request
    BATCH = "nightly_batch"  # the request table's nightly batch
    PUBLISHING = "video_publishing"  # each finished version to its channel's destinations


class ProjectStatus(StrEnum):
    """A project (one per request) as it is made: ``video.projects.status``."""

    PENDING = "pending"
    PROCESSING = "processing"
    REVIEW = "review"  # waiting for an editor's answer, nothing paid yet
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"  # in review


class RequestStatus(StrEnum):
    """A row of the request table: ``video.requests.status``."""

    PENDING = "pending"
    CLAIMED = "claimed"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"  # by the batch's checks, or in review
    CANCELLED = "cancelled"


class ScriptSource(StrEnum):
    GIVEN = "given"  # the request's own script
    GEMINI = "gemini"  # written from the topic
    REVIEW = "review"  # an editor's edit in the script review


class ImageProviderId(StrEnum):
    PROCEDURAL = "procedural"  # title cards, offline
    STABILITY = "stability"


class MediaSourceId(StrEnum):
    """Where a scene's picture is looked for before an image provider makes one."""

    LIBRARY = "library"  # the team's own tagged images and clips
    PEXELS = "pexels"  # stock footage and photos


class VoiceProviderId(StrEnum):
    ESPEAK = "espeak"  # offline
    POLLY = "polly"


class ConnId(StrEnum):
    """The Airflow connections the factory reads."""

    VIDEO_DB = "video_db"
    AWS = "aws_default"
    GEMINI = "gemini_default"
    STABILITY = "stability_default"
    PEXELS = "pexels_default"
    SMTP = "smtp_default"
    KUBERNETES = "kubernetes_default"
