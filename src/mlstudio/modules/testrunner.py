"""Run a module's own tests in isolation: a fresh copy of the built content, a separate process,
and the module's own environment when it declares requirements."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstudio.modules.archive import ModuleBuild


@dataclass
class TestReport:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    duration_s: float = 0.0
    failures: list[dict[str, str]] = field(default_factory=list)
    output_tail: str = ""
    timed_out: bool = False

    @property
    def collected(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.errors == 0 and not self.timed_out

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "collected": self.collected,
            "duration_s": round(self.duration_s, 3),
            "failures": self.failures,
            "timed_out": self.timed_out,
            "ok": self.ok,
        }


def _parse_junit(path: Path, report: TestReport) -> None:
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
            if problem is not None:
                report.errors += 1
        else:
            report.failed += 1
        if problem is not None:
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            report.failures.append({"test": name, "message": message[0][:300] if message else ""})
        elif case.find("skipped") is not None:
            report.skipped += 1
        else:
            report.passed += 1
    # collection errors are reported as testsuite-level errors without testcases
    for suite in root.iter("testsuite"):
        listed = len(list(suite.iter("testcase")))
        declared = (
            int(suite.get("errors", 0)) + int(suite.get("failures", 0)) + int(suite.get("tests", 0))
        )
        if listed == 0 and declared > 0:
            report.errors += int(suite.get("errors", 0)) or 1


# The user's connection to their platform: a module's tests must never reach it.
PLATFORM_VARIABLES = (
    "MLSTUDIO_DATABASE_URL",
    "MLSTUDIO_URL",
    "MLSTUDIO_TOKEN",
    "MLSTUDIO_ARTIFACT_URL",
)


def test_environment(home: Path) -> dict[str, str]:
    """The variables a module's tests run with: the caller's, minus pytest's own and the
    platform connection, with ``MLSTUDIO_HOME`` pointing at a throwaway folder (``home``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "COV_")) and k not in PLATFORM_VARIABLES
    }
    home.mkdir(parents=True, exist_ok=True)
    env["MLSTUDIO_HOME"] = str(home)
    return env


def run_module_tests(
    build: ModuleBuild, tests_dir: str, python: str, package_root: str, timeout_s: float
) -> TestReport:
    """Extract ``build`` into a temp folder and run pytest there with ``python``."""
    report = TestReport()
    if not any(f.path.startswith(f"{tests_dir}/") for f in build.files):
        return report
    with tempfile.TemporaryDirectory(prefix="mlstudio-test-") as tmp:
        work = Path(tmp) / "module"
        for entry in build.files:
            target = work / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(entry.data)
        junit = Path(tmp) / "junit.xml"
        env = test_environment(Path(tmp) / "home")
        env["PYTHONPATH"] = os.pathsep.join([str(work), package_root])
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        cmd = [
            python,
            "-m",
            "pytest",
            tests_dir,
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(work),
            f"--junitxml={junit}",
            "-o",
            "junit_family=xunit2",
        ]
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout_s
            )
            output = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            report.timed_out = True
            output = (
                (exc.stdout or b"").decode(errors="replace")
                if isinstance(exc.stdout, bytes)
                else (exc.stdout or "")
            )
        report.duration_s = time.perf_counter() - start
        report.output_tail = "\n".join(output.strip().splitlines()[-40:])
        if junit.is_file():
            _parse_junit(junit, report)
        elif not report.timed_out:
            report.errors += 1
            report.failures.append(
                {
                    "test": "(pytest)",
                    "message": (output.strip().splitlines() or ["pytest did not run"])[-1],
                }
            )
    return report
