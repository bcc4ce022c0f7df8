"""Power for a paired comparison of means: minimum detectable effect and required number of pairs.

Normal approximation with Guenther's small-sample term: a paired t test on ``n`` differences with
standard deviation ``sd`` detects an effect ``e`` with power ``1 - beta`` when

    n = ((z_alpha + z_beta) * sd / e) ** 2 + z_alpha ** 2 / 2

(``z_alpha`` is the ``1 - alpha/2`` normal quantile for a two-sided test, ``1 - alpha`` one-sided).
The last term corrects the plain normal formula towards the t test's answer; it agrees with
``statsmodels.stats.power.TTestPower`` to within an item for the sizes evaluations use.
"""

from __future__ import annotations

import math

from mlstudio.errors import InvalidInputError


def _quantiles(alpha: float, power: float, two_sided: bool) -> tuple[float, float]:
    from scipy.stats import norm

    if not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha}", hint="e.g. alpha=0.05")
    if not 0.0 < power < 1.0:
        raise InvalidInputError(f"power must be in (0, 1), got {power}", hint="e.g. power=0.8")
    z_alpha = float(norm.ppf(1.0 - alpha / 2.0 if two_sided else 1.0 - alpha))
    return z_alpha, float(norm.ppf(power))


def mde(
    sd_delta: float, n: int, *, alpha: float = 0.05, power: float = 0.8, two_sided: bool = True
) -> float | None:
    """The smallest |mean difference| detectable with ``n`` pairs (None when sd is 0 or n too small).

    ``sd_delta`` is the standard deviation of the per-item differences (for clustered items, the
    effective one: ``delta_se * sqrt(n)``, which carries the design effect).
    """
    z_alpha, z_beta = _quantiles(alpha, power, two_sided)
    if not math.isfinite(sd_delta) or sd_delta <= 0.0:
        return None
    effective = n - z_alpha**2 / 2.0
    if n < 2 or effective <= 0.0:
        return None
    return (z_alpha + z_beta) * sd_delta / math.sqrt(effective)


def required_n(
    sd_delta: float,
    effect: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    two_sided: bool = True,
) -> int | None:
    """Pairs needed to detect a mean difference of ``effect`` (None when sd or effect is 0)."""
    z_alpha, z_beta = _quantiles(alpha, power, two_sided)
    effect = abs(effect)
    if not (math.isfinite(sd_delta) and math.isfinite(effect)) or sd_delta <= 0.0 or effect == 0:
        return None
    n = ((z_alpha + z_beta) * sd_delta / effect) ** 2 + z_alpha**2 / 2.0
    return max(2, math.ceil(n - 1e-9))
