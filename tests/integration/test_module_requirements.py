"""Modules with requirements: tests run inside their own uv-built environment, cached by lock.

This needs uv to reach a package index (``six`` is resolved and installed, from uv's cache
when it has it). It is not skipped when the index is unreachable: it fails, and says so.
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = """[module]
name = "churn/legacy"
description = "uses six"
requirements = ["six==1.16.0"]
"""

TASKS = '''import six

from mlstudio import task


@task
def shout(text: str) -> str:
    """Upper-case text (six is importable at import time too)."""
    return six.ensure_str(text).upper()
'''

TEST = """import os
import sys
from pathlib import Path

import six

from tasks import shout


def test_runs_in_the_module_environment():
    # the studio's environment cache, written in by the test that pushes this module (the
    # tests themselves run with MLSTUDIO_HOME pointing at a throwaway folder)
    envs = Path(Path(__file__).with_name("envs.txt").read_text().strip()).resolve()
    assert not (Path(os.environ["MLSTUDIO_HOME"]) / "cache" / "envs").exists()
    prefix = Path(sys.prefix).resolve()
    assert prefix.is_relative_to(envs), f"{prefix} is not a module environment under {envs}"
    assert sys.prefix != sys.base_prefix
    # six comes from the module's environment, not from the host's site-packages
    assert Path(six.__file__).resolve().is_relative_to(prefix), six.__file__
    assert six.__version__ == "1.16.0"
    assert shout("hi") == "HI"
"""


def write_module(root: Path, envs: Path) -> Path:
    """The module; ``envs`` is where its environment must be (the studio's env cache)."""
    (root / "tests").mkdir(parents=True)
    (root / "module.toml").write_text(MANIFEST)
    (root / "tasks.py").write_text(TASKS)
    (root / "tests" / "test_env.py").write_text(TEST)
    (root / "tests" / "envs.txt").write_text(f"{envs}\n")
    return root


def test_tests_run_in_the_module_environment_which_is_then_reused(studio, tmp_path):
    studio.ok("namespace", "create", "churn")
    folder = write_module(tmp_path / "legacy", studio.home / "cache" / "envs")

    first = studio.ok("module", "push", folder)
    assert first["version"] == 1
    assert first["tests"]["ok"] is True, first["tests"]
    assert first["tests"]["passed"] == 1
    assert first["env_cached"] is False
    envs = list((studio.home / "cache" / "envs").iterdir())
    assert len(envs) == 1 and (envs[0] / ".ready").is_file()

    (folder / "tasks.py").write_text(TASKS + "\n\n# v2\n")
    second = studio.ok("module", "push", folder)
    assert second["version"] == 2
    assert second["tests"]["ok"] is True and second["tests"]["passed"] == 1
    assert second["env_cached"] is True
    assert list((studio.home / "cache" / "envs").iterdir()) == envs

    v1 = studio.ok("module", "show", "churn/legacy@1")["selected"]
    v2 = studio.ok("module", "show", "churn/legacy@2")["selected"]
    assert v1["requirements"] == ["six==1.16.0"]
    assert v1["env_digest"] and v1["env_digest"] == v2["env_digest"]
    assert [t["name"] for t in v2["tasks"]] == ["shout"]

    # `module test` uses the same environment, without publishing
    tested = studio.ok("module", "test", folder)
    assert tested["tests"]["passed"] == 1
    assert [v["version"] for v in studio.ok("module", "show", "churn/legacy")["versions"]] == [1, 2]


def test_modules_with_the_same_requirements_share_one_environment(studio, tmp_path):
    studio.ok("namespace", "create", "churn")
    envs = studio.home / "cache" / "envs"
    first = studio.ok("module", "push", write_module(tmp_path / "legacy", envs), "--no-tests")
    assert first["env_cached"] is False

    other = write_module(tmp_path / "other", envs)
    (other / "module.toml").write_text(
        MANIFEST.replace("churn/legacy", "churn/other").replace(
            '"six==1.16.0"',
            '"six == 1.16.0"',  # spelled differently, resolves the same
        )
    )
    second = studio.ok("module", "push", other, "--no-tests")
    assert (second["module"], second["version"]) == ("churn/other", 1)
    assert second["env_cached"] is True
    assert len(list((studio.home / "cache" / "envs").iterdir())) == 1
    digests = {
        studio.ok("module", "show", name)["selected"]["env_digest"]
        for name in ("churn/legacy", "churn/other")
    }
    assert len(digests) == 1 and None not in digests
