"""Datasets (Arrow tables, Parquet at rest), models, and how task values are stored."""
