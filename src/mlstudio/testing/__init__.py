"""Helpers shipped for tests of mlstudio and of projects built on it."""
