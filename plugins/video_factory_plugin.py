"""The video factory's Airflow plugin: the New video and Videos pages, the REST API's door for hostile input and
one-line trigger errors, and readable run notes."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from video_factory import new_video, run_notes, videos
from video_factory.api_errors import RequestGuard

new_video.app.include_router(videos.router)  # one app under /video-factory: the form, the Videos page, their API


class VideoFactoryPlugin(AirflowPlugin):
    name = "video_factory"
    fastapi_root_middlewares = [  # noqa: RUF012 - Airflow reads these class attributes
        {"middleware": RequestGuard, "args": [], "kwargs": {}, "name": "Request guard: limits and one-line errors"}
    ]
    listeners = [run_notes]  # noqa: RUF012
    fastapi_apps = [{"app": new_video.app, "url_prefix": new_video.URL_PREFIX, "name": "Video factory"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012 - the pages in Airflow's navigation
        {"name": "New video", "href": f"{new_video.URL_PREFIX}/new", "destination": "nav", "url_route": "new-video"},
        {"name": "Videos", "href": f"{new_video.URL_PREFIX}/videos", "destination": "nav", "url_route": "videos"},
    ]
