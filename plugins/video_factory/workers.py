"""Which worker ran a task instance: Airflow records ``[core] hostname_callable``'s answer as its ``hostname``.

In containers and pods every worker has a hostname of its own. Where several Celery workers share one machine
(``make demo-celery``, the Celery tests), each is started with ``VIDEO_WORKER_NAME`` (as it is given a distinct
``--celery-hostname``) so the UI and the REST API tell them apart.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """``VIDEO_WORKER_NAME`` when set, else the machine's fully qualified name (Airflow's default)."""
    return os.environ.get("VIDEO_WORKER_NAME") or socket.getfqdn()
