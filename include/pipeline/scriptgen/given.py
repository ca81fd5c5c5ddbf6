"""The offline script provider: the request must bring its script."""

from __future__ import annotations

from pipeline.errors import InvalidRequest
from pipeline.models import VideoRequest


class GivenScript:
    name = "given"

    def write_script(self, request: VideoRequest) -> str:
        if request.script.strip():
            return request.script
        raise InvalidRequest(
            f"request {request.request_id!r} has a topic but no script, and no script generator is "
            "configured: add a script, or configure one (VIDEO_SCRIPT_PROVIDER)"
        )
