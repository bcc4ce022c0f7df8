"""Where a module push came from: the git commit of its folder and whether it had changes."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_info(path: Path) -> tuple[str | None, bool | None]:
    """(HEAD commit, dirty) of the git checkout holding ``path``; (None, None) outside one."""
    try:
        head = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None
