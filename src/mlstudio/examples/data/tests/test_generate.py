from generate import customers, outcomes, usage


def test_generation_is_deterministic_and_consistent():
    a = customers(n_customers=50, seed=1).to_arrow()
    b = customers(n_customers=50, seed=1).to_arrow()
    assert a.equals(b)
    u = usage(customers(n_customers=50, seed=1), weeks=4, seed=1).to_arrow()
    assert u.num_rows == 50 * 4
    assert set(u["customer_id"].to_pylist()) == set(a["customer_id"].to_pylist())
    active = u["active_users"].to_numpy()
    assert (active >= 0).all()


def test_outcomes_are_binary_and_exclusive():
    y = outcomes(customers(n_customers=200, seed=3), seed=3).to_arrow()
    churned, upgraded = y["churned"].to_numpy(), y["upgraded"].to_numpy()
    assert set(churned) <= {0, 1} and set(upgraded) <= {0, 1}
    assert not (churned & upgraded).any()
    assert 0.05 < churned.mean() < 0.8
