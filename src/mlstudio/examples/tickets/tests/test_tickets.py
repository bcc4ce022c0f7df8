import numpy as np
from tickets import kmeans, make_tickets, purity


def test_tickets_take_the_topics_in_turn_and_are_reproducible():
    a = make_tickets(8, seed=1)
    assert a["topic"].tolist()[:4] == ["billing", "shipping", "login", "refund"]
    assert a.equals(make_tickets(8, seed=1))


def test_kmeans_separates_well_separated_groups():
    rng = np.random.default_rng(0)
    axes = np.eye(3)
    vectors = np.vstack([axes[i] + rng.normal(0, 0.05, (10, 3)) for i in range(3)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = kmeans(vectors, 3, seed=0)
    assert purity(ids, [str(i // 10) for i in range(30)]) == 1.0
