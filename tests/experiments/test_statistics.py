"""Statistics checked against scipy's reference implementations and by simulation."""

import numpy as np
import pytest
from scipy import integrate, stats

from app.experiments.statistics import (
    Arm,
    compare,
    probability_to_be_best,
    sample_size_per_arm,
    two_proportion_z_test,
    wilson_interval,
)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (120, 1000), (5013, 50000)])
def test_wilson_matches_scipy(k, n):
    reference = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(reference.low, abs=1e-9)
    assert high == pytest.approx(reference.high, abs=1e-9)


@pytest.mark.parametrize(
    ("s1", "n1", "s2", "n2"), [(120, 1000, 100, 1000), (30, 200, 45, 210), (5, 5000, 9, 4800)]
)
def test_z_test_matches_chi_square(s1, n1, s2, n2):
    # For a 2x2 table the uncorrected chi-square test is the pooled z-test squared.
    table = [[s1, n1 - s1], [s2, n2 - s2]]
    chi2, p_reference, _, _ = stats.chi2_contingency(table, correction=False)
    z, p = two_proportion_z_test(s1, n1, s2, n2)
    assert z * z == pytest.approx(chi2, rel=1e-9)
    assert p == pytest.approx(p_reference, rel=1e-9)


def test_probability_to_be_best_matches_integration():
    a, b = Arm("a", 40, 400), Arm("b", 55, 410)
    beta_a = stats.beta(1 + a.conversions, 1 + a.exposures - a.conversions)
    beta_b = stats.beta(1 + b.conversions, 1 + b.exposures - b.conversions)
    b_best, _ = integrate.quad(lambda x: beta_b.pdf(x) * beta_a.cdf(x), 0, 1, limit=200)
    p_a, p_b = probability_to_be_best([a, b], draws=400_000)
    assert p_b == pytest.approx(b_best, abs=0.004)
    assert p_a + p_b == pytest.approx(1.0)


def test_sample_size_reaches_the_power_it_promises():
    n = sample_size_per_arm(0.10, 0.12, alpha=0.05, power=0.8)
    assert 3800 <= n <= 3900  # the textbook figure for 10% -> 12% is about 3,840 per arm

    def power(size: int) -> float:
        se0 = np.sqrt(2 * 0.11 * 0.89 / size)
        se1 = np.sqrt((0.10 * 0.90 + 0.12 * 0.88) / size)
        return float(stats.norm.sf((stats.norm.ppf(0.975) * se0 - 0.02) / se1))

    assert power(n) >= 0.8 > power(n - 40)
    assert sample_size_per_arm(0.1, 0.1, alpha=0.05) is None


def test_known_rates_declare_the_right_winner():
    rng = np.random.default_rng(11)
    n = 6000
    arms = [
        Arm("control", int(rng.binomial(n, 0.10)), n),
        Arm("a", int(rng.binomial(n, 0.10)), n),
        Arm("b", int(rng.binomial(n, 0.13)), n),
    ]
    result = compare(arms, control="control")
    assert result.winner == "b"
    by_name = {r.name: r for r in result.arms}
    assert by_name["b"].significant and by_name["b"].lift > 0.15
    assert by_name["b"].probability_best > 0.95
    assert result.corrected_alpha == pytest.approx(0.025)


def test_no_winner_says_how_many_more_users():
    result = compare([Arm("control", 100, 1000), Arm("a", 110, 1000)], control="control")
    assert result.winner is None
    a = next(r for r in result.arms if r.name == "a")
    assert not a.significant
    assert a.more_users_needed > 10_000


def test_false_winner_rate_is_close_to_alpha():
    rng = np.random.default_rng(2026)
    experiments, n, alpha = 200, 3000, 0.05
    false_winners = 0
    for _ in range(experiments):
        arms = [Arm(name, int(rng.binomial(n, 0.08)), n) for name in ("control", "a", "b")]
        false_winners += compare(arms, control="control", alpha=alpha).winner is not None
    # Bonferroni keeps the family-wise rate at or just under alpha: expect about 10 of 200; the
    # bounds are the 99.9% range of a binomial(200, 0.05).
    assert 2 <= false_winners <= 22


def test_without_control_false_winners_stay_under_alpha_and_real_ones_are_found():
    """The roll-out's question (is the best variant better than every other?) over 200
    simulated A/A/A tests, then over 200 with one truly better variant."""
    rng = np.random.default_rng(7)
    experiments, n, alpha = 200, 2000, 0.05

    def winners(rates: tuple[float, ...]) -> list[str | None]:
        found = []
        for _ in range(experiments):
            arms = [Arm(str(i), int(rng.binomial(n, r)), n) for i, r in enumerate(rates)]
            found.append(compare(arms, alpha=alpha).winner)
        return found

    false_winners = sum(w is not None for w in winners((0.1, 0.1, 0.1)))
    # The best of three must beat both others: at most alpha, and the 99.9% upper bound of a
    # binomial(200, 0.05) is 22.
    assert false_winners <= 22
    found = winners((0.1, 0.1, 0.14))
    assert sum(w == "2" for w in found) >= 0.8 * experiments  # power: ~0.9 for this difference
    assert all(w in (None, "2") for w in found)
