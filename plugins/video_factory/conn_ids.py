"""The Airflow connections the video factory reads (a module of names only: cheap to import at DAG parse)."""

VIDEO_DB_CONN_ID = "video_db"
AWS_CONN_ID = "aws_default"
GEMINI_CONN_ID = "gemini_default"
STABILITY_CONN_ID = "stability_default"
