"""Experiment statistics: Wilson intervals, two-proportion z-tests, Bayesian probability to be
best, and the sample size still needed.

"Is this variant better than the reference?" is a one-sided question, so each arm gets the
one-sided p-value of the pooled z-test in the direction of improvement, judged at alpha / k
(Bonferroni over the k comparisons): with k variants the chance of a false winner stays at
alpha rather than growing with k."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

_STANDARD = NormalDist()


@dataclass(frozen=True)
class Arm:
    name: str
    conversions: int
    exposures: int

    @property
    def rate(self) -> float:
        return self.conversions / self.exposures if self.exposures else 0.0


@dataclass(frozen=True)
class ArmResult:
    name: str
    conversions: int
    exposures: int
    rate: float
    interval: tuple[float, float]
    lift: float | None  # relative to the reference arm
    p_value: float | None  # one-sided: the arm beats the reference (control), or the best beats it
    significant: bool
    probability_best: float
    more_users_needed: int | None  # per arm, to detect the observed difference; None when significant


@dataclass(frozen=True)
class Comparison:
    arms: list[ArmResult]
    reference: str  # control, or the best arm when there is no control
    alpha: float
    corrected_alpha: float
    winner: str | None


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    if trials == 0:
        return (0.0, 1.0)
    z = _STANDARD.inv_cdf(1 - (1 - confidence) / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_z_test(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float]:
    """Pooled two-sided z-test for p1 == p2; returns (z, p-value)."""
    if n1 == 0 or n2 == 0:
        return (0.0, 1.0)
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return (0.0, 1.0)
    z = (s1 / n1 - s2 / n2) / se
    return (z, 2 * (1 - _STANDARD.cdf(abs(z))))


def probability_to_be_best(arms: Sequence[Arm], *, draws: int = 100_000, seed: int = 0) -> list[float]:
    """P(arm has the highest rate) under independent Beta(1 + s, 1 + n - s) posteriors."""
    rng = np.random.default_rng(seed)
    samples = np.stack([rng.beta(1 + a.conversions, 1 + a.exposures - a.conversions, draws) for a in arms])
    wins = np.bincount(samples.argmax(axis=0), minlength=len(arms))
    return [float(w) / draws for w in wins]


def sample_size_per_arm(p1: float, p2: float, *, alpha: float, power: float = 0.8) -> int | None:
    """Users per arm for a two-sided test at ``alpha`` (a one-sided one at alpha / 2) of p1 vs
    p2 to reach ``power``; None if p1 == p2."""
    if p1 == p2:
        return None
    z_alpha = _STANDARD.inv_cdf(1 - alpha / 2)
    z_beta = _STANDARD.inv_cdf(power)
    pooled = (p1 + p2) / 2
    numerator = z_alpha * math.sqrt(2 * pooled * (1 - pooled)) + z_beta * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    return math.ceil((numerator / (p1 - p2)) ** 2)


def compare(arms: Sequence[Arm], *, control: str | None = None, alpha: float = 0.05) -> Comparison:
    """Each arm against control (or, without one, against the best arm)."""
    if len(arms) < 2:
        raise ValueError("a comparison needs at least two arms")
    by_name = {a.name: a for a in arms}
    reference = by_name[control] if control else max(arms, key=lambda a: a.rate)
    challengers = [a for a in arms if a.name != reference.name]
    corrected = alpha / len(challengers)
    best_probabilities = probability_to_be_best(arms)
    results: list[ArmResult] = []
    for arm, probability in zip(arms, best_probabilities, strict=True):
        if arm is reference:
            results.append(_result(arm, probability, None, None, False, None))
            continue
        z, _ = two_proportion_z_test(
            arm.conversions, arm.exposures, reference.conversions, reference.exposures
        )
        # With a control the question is "arm > control"; without, "best > arm".
        p_value = 1 - _STANDARD.cdf(z if control else -z)
        significant = p_value < corrected
        lift = (arm.rate - reference.rate) / reference.rate if reference.rate else None
        needed = None
        if not significant:
            total = sample_size_per_arm(arm.rate, reference.rate, alpha=2 * corrected)
            needed = None if total is None else max(0, total - min(arm.exposures, reference.exposures))
        results.append(_result(arm, probability, lift, p_value, significant, needed))
    winner = _winner(results, reference.name, control is not None)
    return Comparison(results, reference.name, alpha, corrected, winner)


def comparison_out(arms: Sequence[Arm], *, control: str | None, alpha: float) -> dict[str, Any]:
    """``compare`` as a report's JSON; fewer than two arms are listed plainly, with no verdict."""
    if len(arms) < 2:
        plain = [
            {"name": a.name, "conversions": a.conversions, "exposures": a.exposures, "rate": a.rate}
            for a in arms
        ]
        return {"reference": None, "winner": None, "arms": plain}
    result = compare(arms, control=control, alpha=alpha)
    return {
        "reference": result.reference,
        "alpha": result.alpha,
        "corrected_alpha": result.corrected_alpha,
        "winner": result.winner,
        "arms": [_arm_out(asdict(r)) for r in result.arms],
    }


def _arm_out(result: dict[str, Any]) -> dict[str, Any]:
    low, high = result.pop("interval")
    return {**result, "interval_low": low, "interval_high": high}


def _result(
    arm: Arm,
    probability: float,
    lift: float | None,
    p_value: float | None,
    significant: bool,
    needed: int | None,
) -> ArmResult:
    return ArmResult(
        name=arm.name,
        conversions=arm.conversions,
        exposures=arm.exposures,
        rate=arm.rate,
        interval=wilson_interval(arm.conversions, arm.exposures),
        lift=lift,
        p_value=p_value,
        significant=significant,
        probability_best=probability,
        more_users_needed=needed,
    )


def _winner(results: list[ArmResult], reference: str, has_control: bool) -> str | None:
    better = [r for r in results if r.name != reference and r.significant and (r.lift or 0) > 0]
    if has_control:
        return max(better, key=lambda r: r.rate).name if better else None
    # Without a control the reference is the best arm: it wins once it beats every other arm.
    others = [r for r in results if r.name != reference]
    return reference if others and all(r.significant for r in others) else None
