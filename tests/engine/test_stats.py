"""The gain's statistics against hand computations: exact McNemar, paired bootstrap, per-class gain, t intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.engine import stats


def test_exact_mcnemar_is_the_two_sided_binomial_tail():
    # 3 against 10 discordant: 2 * (C(13,0) + C(13,1) + C(13,2) + C(13,3)) / 2^13 = 2 * 378 / 8192.
    assert stats.mcnemar_exact_p(3, 10) == stats.mcnemar_exact_p(10, 3) == 2 * 378 / 8192
    assert stats.mcnemar_exact_p(0, 5) == 2 / 32
    assert stats.mcnemar_exact_p(4, 4) == 1.0  # the doubled tail passes 1: capped
    assert stats.mcnemar_exact_p(0, 0) == 1.0
    # Large counts (integer arithmetic, no overflow) agree with the continuity-corrected normal approximation:
    # z = (|450 - 550| - 1) / sqrt(1000) = 3.1307, two-sided p = erfc(z / sqrt(2)).
    assert stats.mcnemar_exact_p(450, 550) == pytest.approx(math.erfc(99 / math.sqrt(1000) / math.sqrt(2)), rel=0.05)


def test_paired_test_counts_discordant_samples_and_per_class_gain():
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    student = np.array([0, 0, 1, 1, 1, 0, 2, 0])   # right on 0,1,3,4,6
    baseline = np.array([0, 1, 1, 1, 0, 0, 0, 2])  # right on 0,3,7
    test = stats.paired_test(labels, student, baseline, ["a", "b", "c"])
    # student only: samples 1, 4, 6; baseline only: sample 7.
    assert (test["student_only"], test["baseline_only"], test["samples"]) == (3, 1, 8)
    assert test["gain"] == (5 - 3) / 8
    assert test["mcnemar_p"] == 2 * (1 + 4) / 16
    assert test["per_class_gain"] == {"a": 2 / 3 - 1 / 3, "b": 2 / 3 - 1 / 3, "c": 1 / 2 - 1 / 2}
    assert test["interval_method"] == stats.INTERVAL_METHOD


def test_the_bootstrap_interval_matches_resampling_the_samples_and_is_reproducible():
    """Drawing multinomial counts is resampling the samples: compare with the plain index bootstrap."""
    b, c, n = 40, 25, 300
    differences = np.array([1] * b + [-1] * c + [0] * (n - b - c))
    rng = np.random.default_rng(1)
    plain = differences[rng.integers(0, n, size=(20_000, n))].mean(1)
    expected = np.quantile(plain, [0.025, 0.975])
    interval = stats.gain_interval(b, c, n)
    assert interval == stats.gain_interval(b, c, n)
    np.testing.assert_allclose(interval, expected, atol=0.006)
    # And the normal approximation by hand: gain +- 1.96 * sqrt((b + c) / n - gain^2) / sqrt(n).
    gain = (b - c) / n
    half = 1.96 * math.sqrt((b + c) / n - gain ** 2) / math.sqrt(n)
    np.testing.assert_allclose(interval, (gain - half, gain + half), atol=0.006)


def test_across_seeds_mean_std_and_t_interval_by_hand():
    summary = stats.describe_values([0.1, 0.2, 0.3])
    assert summary["mean"] == pytest.approx(0.2) and summary["std"] == pytest.approx(0.1)
    half = 4.302653 * 0.1 / math.sqrt(3)  # t(0.975, 2 degrees of freedom), from any t table
    assert summary["interval"] == pytest.approx([0.2 - half, 0.2 + half])
    assert stats.describe_values([0.5]) == {"n": 1, "mean": 0.5, "std": None, "interval": None}
    # Published t quantiles beyond the table: 60 and 120 degrees of freedom.
    assert stats.t_quantile_975(60) == pytest.approx(2.000298, abs=2e-5)
    assert stats.t_quantile_975(120) == pytest.approx(1.979930, abs=2e-5)


def test_pooled_test_adds_up_the_seeds():
    first = stats.paired_test(np.array([0, 1, 1]), np.array([0, 1, 0]), np.array([1, 1, 0]), ["a", "b"])
    second = stats.paired_test(np.array([0, 1]), np.array([0, 1]), np.array([1, 0]), ["a", "b"])
    pooled = stats.pooled_test([first, second])
    assert (pooled["student_only"], pooled["baseline_only"], pooled["samples"], pooled["runs"]) == (3, 0, 5, 2)
    assert pooled["mcnemar_p"] == 2 / 8 and pooled["gain"] == 3 / 5


def test_gain_is_described_with_its_interval_and_verdict():
    test = {"gain": 0.021, "interval": [-0.06, 0.1], "mcnemar_p": 0.71}
    assert stats.describe_gain(test) == "+0.021 [-0.060, +0.100], p = 0.71: not significant"
    assert stats.describe_gain({**test, "mcnemar_p": 0.0004}).endswith("p < 0.001: significant")
    assert stats.describe_gain(None) == "–"
