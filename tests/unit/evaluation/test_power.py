"""Power: MDE and required n against statsmodels' TTestPower and the research example."""

from __future__ import annotations

import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.power import mde, required_n


def test_research_example_figures() -> None:
    assert required_n(0.052, 0.01) == pytest.approx(215, abs=2)
    assert mde(0.052, 300) == pytest.approx(0.0084, abs=0.00005)


@pytest.mark.parametrize(
    ("sd", "effect", "power", "alpha"),
    [
        (0.052, 0.01, 0.8, 0.05),
        (0.2, 0.05, 0.9, 0.05),
        (1.0, 0.5, 0.8, 0.01),
        (0.1, 0.003, 0.8, 0.1),
    ],
)
def test_required_n_matches_ttestpower(
    sd: float, effect: float, power: float, alpha: float
) -> None:
    from statsmodels.stats.power import TTestPower

    ref = TTestPower().solve_power(effect_size=effect / sd, power=power, alpha=alpha)
    ours = required_n(sd, effect, alpha=alpha, power=power)
    assert ours is not None
    assert abs(ours - ref) <= max(2.0, 0.02 * ref), (ours, ref)


@pytest.mark.parametrize(("sd", "n"), [(0.052, 300), (0.3, 50), (1.0, 2000)])
def test_mde_matches_ttestpower(sd: float, n: int) -> None:
    from statsmodels.stats.power import TTestPower

    ref = TTestPower().solve_power(nobs=n, power=0.8, alpha=0.05) * sd
    ours = mde(sd, n)
    assert ours is not None
    assert ours == pytest.approx(ref, rel=0.02)


def test_one_sided_needs_fewer_pairs() -> None:
    two = required_n(0.1, 0.02)
    one = required_n(0.1, 0.02, two_sided=False)
    assert two is not None and one is not None and one < two


def test_undefined_cases_are_none() -> None:
    assert required_n(0.0, 0.01) is None
    assert required_n(0.05, 0.0) is None
    assert mde(0.0, 100) is None
    assert mde(0.05, 1) is None


def test_bad_alpha_or_power_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="alpha"):
        mde(0.1, 100, alpha=1.5)
    with pytest.raises(InvalidInputError, match="power"):
        required_n(0.1, 0.01, power=0.0)
