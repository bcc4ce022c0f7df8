"""Example modules bundled for ``mlstudio quickstart`` (each folder is a module to push)."""

from pathlib import Path

EXAMPLES_DIR = Path(__file__).parent
QUICKSTART_MODULES = ("data", "features", "propensity")
