"""Airflow adapters of the video factory: connections, error translation, callbacks and notifiers.

The core (``include/pipeline``) knows nothing of Airflow; this package is the only bridge.
"""
