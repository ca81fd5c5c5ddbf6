"""The offline script provider: the request must bring its script."""

from __future__ import annotations

from pipeline.constants import ScriptSource
from pipeline.errors import InvalidRequest
from pipeline.request import VideoRequest
from pipeline.scriptgen.base import Script


class GivenScript:
    name = ScriptSource.GIVEN.value
    model = ""
    paid = False
    prompt_version = ""
    unit_kind = "tokens"

    def write_script(self, request: VideoRequest) -> Script:
        if request.script and request.script.strip():
            return Script(body=request.script, source=self.name)
        raise InvalidRequest(
            f"request {request.request_id!r} has a topic but no script, and no script generator is "
            "configured: add a script, or configure one (VIDEO_SCRIPT_PROVIDER=gemini)"
        )
