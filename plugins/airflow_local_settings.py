"""Airflow's cluster policies for the video factory (Airflow imports this module by name from its path)."""

from video_factory.priority import task_instance_mutation_hook

__all__ = ["task_instance_mutation_hook"]
