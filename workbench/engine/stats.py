"""The statistics that say whether a distillation gain is real (numpy and the standard library only).

Student and baseline are evaluated on the same validation samples, so their comparison is
paired: only the *discordant* samples (one network right, the other wrong) tell them apart.

- **McNemar's exact test**: under "no difference" each discordant sample is the student's with
  probability 1/2, so the two-sided p-value is the binomial tail ``2 * P(X <= min(b, c))``,
  ``X ~ Binomial(b + c, 1/2)`` (capped at 1), computed exactly with integers.
- **95% interval of the gain**: a percentile paired bootstrap over the validation samples,
  10,000 resamples with a fixed seed (0), so the same predictions always give the same interval.
  Resampling N samples with replacement and counting the discordant ones is drawing
  ``Multinomial(N; b/N, c/N, rest)``, which is how it is drawn here (the same distribution as
  resampling indices, at a fraction of the cost).
- **Across seeds** (a study): mean, sample standard deviation and the Student-t 95% interval of
  the mean; the pooled paired test adds up the discordant counts of every seed (McNemar
  stratified by seed) and bootstraps the pooled pairs.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
INTERVAL_METHOD = f"percentile paired bootstrap, {BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}"
SIGNIFICANCE = 0.05

# Student's t, 0.975 quantile, for 1..30 degrees of freedom (scipy.stats.t.ppf, 6 decimals).
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
         2.200985, 2.178813, 2.160369, 2.144787, 2.13145, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
         2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.04523, 2.042272)
_Z975 = 1.959963984540054


def mcnemar_exact_p(student_only: int, baseline_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (1.0 when there are none)."""
    total = student_only + baseline_only
    if total == 0:
        return 1.0
    tail = sum(math.comb(total, k) for k in range(min(student_only, baseline_only) + 1))
    return min(1.0, 2 * tail / 2 ** total)


def gain_interval(student_only: int, baseline_only: int, samples: int) -> tuple[float, float]:
    """95% percentile paired-bootstrap interval of the accuracy difference (see the module docstring)."""
    if samples == 0:
        return (math.nan, math.nan)
    rest = samples - student_only - baseline_only
    counts = np.random.default_rng(BOOTSTRAP_SEED).multinomial(
        samples, np.array([student_only, baseline_only, rest]) / samples, size=BOOTSTRAP_RESAMPLES)
    gains = (counts[:, 0] - counts[:, 1]) / samples
    low, high = np.quantile(gains, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return (float(low), float(high))


def paired_test(labels: np.ndarray, student_pred: np.ndarray, baseline_pred: np.ndarray,
                class_names: Sequence[str]) -> dict[str, Any]:
    """The paired comparison of two networks' predicted classes on the same samples.

    ``gain`` is the student's accuracy minus the baseline's; ``student_only`` counts the samples the
    student gets right and the baseline wrong, ``baseline_only`` the reverse; ``per_class_gain`` maps
    each class present among the labels to the gain on its samples.
    """
    labels = np.asarray(labels)
    student_right = np.asarray(student_pred) == labels
    baseline_right = np.asarray(baseline_pred) == labels
    samples = int(labels.shape[0])
    student_only = int(np.sum(student_right & ~baseline_right))
    baseline_only = int(np.sum(baseline_right & ~student_right))
    low, high = gain_interval(student_only, baseline_only, samples)
    per_class = {}
    for index, name in enumerate(class_names):
        members = labels == index
        if members.any():
            per_class[name] = float(student_right[members].mean() - baseline_right[members].mean())
    return {"samples": samples, "gain": (student_only - baseline_only) / samples if samples else math.nan,
            "interval": [low, high], "interval_method": INTERVAL_METHOD,
            "student_only": student_only, "baseline_only": baseline_only,
            "mcnemar_p": mcnemar_exact_p(student_only, baseline_only), "per_class_gain": per_class}


def pooled_test(tests: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The paired tests of several seeds as one: discordant counts and samples added up."""
    if not tests:
        return None
    samples = sum(test["samples"] for test in tests)
    student_only = sum(test["student_only"] for test in tests)
    baseline_only = sum(test["baseline_only"] for test in tests)
    low, high = gain_interval(student_only, baseline_only, samples)
    return {"runs": len(tests), "samples": samples, "gain": (student_only - baseline_only) / samples,
            "interval": [low, high], "interval_method": INTERVAL_METHOD, "student_only": student_only,
            "baseline_only": baseline_only, "mcnemar_p": mcnemar_exact_p(student_only, baseline_only)}


def t_quantile_975(degrees: int) -> float:
    """Student's t 0.975 quantile: a table to 30 degrees of freedom, then the Cornish-Fisher expansion."""
    if degrees < 1:
        raise ValueError("degrees of freedom must be at least 1")
    if degrees <= len(_T975):
        return _T975[degrees - 1]
    z, v = _Z975, float(degrees)
    return (z + (z ** 3 + z) / (4 * v) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * v ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * v ** 3))


def describe_values(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation and the t 95% interval of the mean (None below two values)."""
    array = np.asarray([value for value in values if value is not None], dtype=float)
    count = int(array.shape[0])
    if count == 0:
        return {"n": 0, "mean": None, "std": None, "interval": None}
    mean = float(array.mean())
    if count < 2:
        return {"n": 1, "mean": mean, "std": None, "interval": None}
    std = float(array.std(ddof=1))
    half = t_quantile_975(count - 1) * std / math.sqrt(count)
    return {"n": count, "mean": mean, "std": std, "interval": [mean - half, mean + half]}


def is_significant(test: dict[str, Any] | None) -> bool:
    return test is not None and test.get("mcnemar_p") is not None and test["mcnemar_p"] < SIGNIFICANCE


def describe_gain(test: dict[str, Any] | None, digits: int = 3, percent: bool = False) -> str:
    """"+0.021 [-0.060, +0.100], p = 0.71: not significant" (what every view shows beside a gain);
    with ``percent``: "+2.1% [-6.0%, +10.0%], p = 0.71: not significant"."""
    if not test or test.get("gain") is None or math.isnan(test["gain"]):
        return "–"
    low, high = test["interval"]
    verdict = "significant" if is_significant(test) else "not significant"
    number = (lambda value: f"{value:+.1%}") if percent else (lambda value: f"{value:+.{digits}f}")
    return f"{number(test['gain'])} [{number(low)}, {number(high)}], {format_p(test['mcnemar_p'])}: {verdict}"


def format_p(p: float) -> str:
    """"p = 0.71", "p = 0.004", "p < 0.001"."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"
