"""Artifact storage: a byte-level object store over fsspec and a content-addressed layer."""
