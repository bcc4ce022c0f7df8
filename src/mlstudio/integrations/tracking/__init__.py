"""Experiment tracking (native task logging and the store the MLflow API serves)."""
