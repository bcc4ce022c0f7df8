"""Fine-tuning on the CPU: a classifier head on a packaged embedding model.

The texts are embedded by batch inference (kept items: a resumed training does not embed
again), then a softmax head is trained on the frozen vectors with mini-batch Adam. Every
``checkpoint_every`` steps the head and the optimizer's state are kept in the content store
under a key of what determines the training (the base model, the items and their labels, the
hyperparameters): a killed or retried task, a resumed or cloned run with the same inputs,
continues from the last checkpoint and ends with the same weights as a run that was never
interrupted (the batch order of each epoch is drawn from ``(seed, epoch)``, not from a running
generator). Per step the loss is logged to tracking, per epoch the validation accuracy.

The result is a :class:`EmbeddingClassifier` (``predict(rows)`` → labels, ``predict_proba``),
returned in a :class:`~mlstudio.Model`: registered from the run, it inherits the training
data's classification like any model a task returns.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import InvalidInputError


@dataclass(frozen=True)
class TrainSpec:
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 0.05
    l2: float = 1e-4
    validation: float = 0.2
    seed: int = 0
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("epochs", self.epochs, 1, 10_000),
            ("batch_size", self.batch_size, 1, 100_000),
            ("checkpoint_every", self.checkpoint_every, 1, 10_000_000),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidInputError(
                    f"invalid {name} {value!r}", hint=f"give a whole number from {low} to {high}"
                )
        for name, value, low, high in (
            ("learning_rate", self.learning_rate, 0.0, 10.0),
            ("l2", self.l2, 0.0, 10.0),
            ("validation", self.validation, 0.0, 0.9),
        ):
            if (
                not isinstance(value, int | float)
                or not math.isfinite(value)
                or not low <= value <= high
            ):
                raise InvalidInputError(
                    f"invalid {name} {value!r}", hint=f"give a number from {low} to {high}"
                )


class EmbeddingClassifier:
    """A softmax head over a packaged embedding model's vectors (picklable, small)."""

    def __init__(
        self, provider: str, classes: list[str], weights: Any, bias: Any, text: str
    ) -> None:
        self.provider = provider
        self.classes = list(classes)
        self.weights = weights
        self.bias = bias
        self.text = text

    def _vectors(self, texts: list[str]) -> Any:
        import numpy as np

        from mlstudio.integrations.genai.registry import open_provider

        return np.asarray(open_provider(self.provider).embed(texts), dtype=np.float64)

    def predict_proba(self, rows: list[Any]) -> list[list[float]]:
        texts = [
            r[0] if isinstance(r, list | tuple) else (r[self.text] if isinstance(r, dict) else r)
            for r in rows
        ]
        return softmax(self._vectors([str(t) for t in texts]) @ self.weights + self.bias).tolist()

    def predict(self, rows: list[Any]) -> list[str]:
        return [
            self.classes[max(range(len(p)), key=p.__getitem__)] for p in self.predict_proba(rows)
        ]


def softmax(logits: Any) -> Any:
    import numpy as np

    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class State:
    step: int
    weights: Any
    bias: Any
    m: list[Any]
    v: list[Any]

    def to_bytes(self) -> bytes:
        import numpy as np

        buffer = io.BytesIO()
        np.savez(
            buffer,
            step=np.array(self.step),
            weights=self.weights,
            bias=self.bias,
            m0=self.m[0],
            m1=self.m[1],
            v0=self.v[0],
            v1=self.v[1],
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> State:
        import numpy as np

        with np.load(io.BytesIO(data)) as z:
            return cls(
                int(z["step"]), z["weights"], z["bias"], [z["m0"], z["m1"]], [z["v0"], z["v1"]]
            )


class Checkpoints:
    """Where training keeps its checkpoints: the content store, indexed by the training key."""

    def __init__(self, platform: Any, key: str, run_id: str | None) -> None:
        self.platform = platform
        self.key = key
        self.run_id = run_id

    def load(self) -> State | None:
        with self.platform.store.read() as uow:
            row = uow.genai.checkpoint(self.key)
        return State.from_bytes(self.platform.cas.get(row["digest"])) if row else None

    def save(self, state: State) -> None:
        digest = self.platform.cas.put(state.to_bytes())
        with self.platform.store.transaction() as uow:
            uow.genai.put_checkpoint(self.key, state.step, digest, self.run_id)


def train(
    vectors: Any,
    labels: list[str],
    spec: TrainSpec,
    checkpoints: Checkpoints,
    *,
    log: Callable[[dict[str, float], int], None],
    on_step: Callable[[int], None] | None = None,
) -> tuple[list[str], Any, Any, dict[str, Any]]:
    """Train the head; returns (classes, weights, bias, summary)."""
    import numpy as np

    classes = sorted(set(labels))
    if len(classes) < 2:
        raise InvalidInputError(
            f"a classifier needs two labels or more, the data has {len(classes)}",
            hint="give a labelled dataset with several classes",
        )
    x = np.asarray(vectors, dtype=np.float64)
    y = np.array([classes.index(label) for label in labels])
    order = np.random.default_rng([spec.seed, 10**6]).permutation(len(y))
    n_val = round(len(y) * spec.validation)
    val, fit = order[:n_val], order[n_val:]
    steps_per_epoch = math.ceil(len(fit) / spec.batch_size)
    total = steps_per_epoch * spec.epochs
    state = checkpoints.load()
    resumed_from = state.step if state is not None else 0
    if state is None:
        zeros = (np.zeros((x.shape[1], len(classes))), np.zeros(len(classes)))
        state = State(0, zeros[0], zeros[1], [z.copy() for z in zeros], [z.copy() for z in zeros])
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    while state.step < total:
        epoch, position = divmod(state.step, steps_per_epoch)
        shuffled = fit[np.random.default_rng([spec.seed, epoch]).permutation(len(fit))]
        rows = shuffled[position * spec.batch_size : (position + 1) * spec.batch_size]
        xb, yb = x[rows], y[rows]
        p = softmax(xb @ state.weights + state.bias)
        loss = float(-np.log(p[np.arange(len(yb)), yb] + 1e-12).mean())
        p[np.arange(len(yb)), yb] -= 1
        grads = [xb.T @ p / len(yb) + spec.l2 * state.weights, p.mean(axis=0)]
        state.step += 1
        params = [state.weights, state.bias]
        for i, g in enumerate(grads):
            state.m[i] = beta1 * state.m[i] + (1 - beta1) * g
            state.v[i] = beta2 * state.v[i] + (1 - beta2) * g * g
            m_hat = state.m[i] / (1 - beta1**state.step)
            v_hat = state.v[i] / (1 - beta2**state.step)
            params[i] -= spec.learning_rate * m_hat / (np.sqrt(v_hat) + eps)
        metrics = {"train/loss": loss}
        if state.step % steps_per_epoch == 0 and len(val):
            predicted = np.argmax(x[val] @ state.weights + state.bias, axis=1)
            metrics["val/accuracy"] = float((predicted == y[val]).mean())
        log(metrics, state.step)
        if state.step % spec.checkpoint_every == 0 or state.step == total:
            checkpoints.save(state)
        if on_step is not None:
            on_step(state.step)
    accuracy = None
    if len(val):
        predicted = np.argmax(x[val] @ state.weights + state.bias, axis=1)
        accuracy = float((predicted == y[val]).mean())
    summary = {
        "classes": classes,
        "steps": total,
        "resumed_from_step": resumed_from,
        "train_items": len(fit),
        "validation_items": int(n_val),
        "validation_accuracy": accuracy,
    }
    return classes, state.weights, state.bias, summary
