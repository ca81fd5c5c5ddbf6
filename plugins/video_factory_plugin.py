"""The video factory's Airflow plugin: short trigger errors on the REST API and readable run notes."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from video_factory import new_video, run_notes
from video_factory.api_errors import ShortRequestErrors


class VideoFactoryPlugin(AirflowPlugin):
    name = "video_factory"
    fastapi_root_middlewares = [  # noqa: RUF012 - Airflow reads these class attributes
        {"middleware": ShortRequestErrors, "args": [], "kwargs": {}, "name": "One-line request errors"}
    ]
    listeners = [run_notes]  # noqa: RUF012
    fastapi_apps = [{"app": new_video.app, "url_prefix": new_video.URL_PREFIX, "name": "Video factory"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012 - the page in Airflow's navigation
        {"name": "New video", "href": f"{new_video.URL_PREFIX}/new", "destination": "nav", "url_route": "new-video"}
    ]
