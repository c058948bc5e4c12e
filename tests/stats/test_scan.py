"""The space-time permutation scan against a worked example done by hand, against a
brute-force enumeration of every cylinder, and on an injected cluster."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from yiyun.stats import scan

# Three sites on a line, 1 km apart (A, B, C), three days.
POS = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
COUNTS = np.array(
    [
        [2, 2, 6],  # A: a rise on the last day
        [2, 2, 2],  # B
        [2, 2, 2],  # C
    ],
    dtype=float,
)


def test_the_worked_example_by_hand() -> None:
    """C = 22 cases; by site 10, 6, 6; by day 6, 6, 10.

    Cylinder {A} × last day: c = 6, μ = 10 · 10 / 22 = 4.5454…
      LLR = 6 ln(6 / 4.5454) + 16 ln(16 / 17.4545) = 1.66579 − 1.39218 = 0.27361
    Cylinder {A, B} × last day: c = 8, μ = 16 · 10 / 22 = 7.2727…
      LLR = 8 ln(8 / 7.2727) + 14 ln(14 / 14.7273) = 0.76248 − 0.70902 = 0.05346
    Cylinder {A} × last two days: c = 8, μ = 10 · 16 / 22 = 7.2727… → 0.05346 as well.
    Every other cylinder has c ≤ μ (LLR 0), e.g. {B} × last day: c = 2, μ = 60 / 22.
    So the most likely cluster is {A} on the last day, LLR ≈ 0.27361.
    """
    hand_best = 6 * math.log(6 / (100 / 22)) + 16 * math.log(16 / (22 - 100 / 22))
    assert hand_best == pytest.approx(0.27361, abs=1e-5)
    hand_ab = 8 * math.log(8 / (160 / 22)) + 14 * math.log(14 / (22 - 160 / 22))
    assert hand_ab == pytest.approx(0.05346, abs=1e-5)

    found = scan.most_likely(COUNTS, POS, max_days=2, max_sites=2, max_radius_km=1.5, replicates=0)
    assert found is not None
    assert found.sites == [0] and found.days == 1
    assert found.observed == 6
    assert found.expected == pytest.approx(100 / 22)
    assert found.llr == pytest.approx(hand_best)

    cyl = scan.cylinders(POS, max_sites=2, max_radius_km=1.5)
    mu, total = scan._expected(COUNTS, cyl, 2)
    scores = scan._scores(COUNTS, cyl, 2, mu, total)
    # centre A: k=0 ({A}), k=1 ({A,B}); w=0 (last day), w=1 (last two days)
    assert scores[0, 0, 0] == pytest.approx(hand_best)
    assert scores[0, 1, 0] == pytest.approx(hand_ab)
    assert scores[0, 0, 1] == pytest.approx(hand_ab)
    assert scores[1, 0, 0] == 0.0  # {B} has fewer cases than expected


def _brute(
    counts: np.ndarray, pos: np.ndarray, max_days: int, max_sites: int, radius: float
) -> float:
    """Every centre, every nearest-neighbour set in range, every window: the best LLR."""
    z, d = counts.shape
    total = counts.sum()
    best = 0.0
    for i in range(z):
        dist = np.sqrt(((pos - pos[i]) ** 2).sum(axis=1))
        order = sorted(range(z), key=lambda j: (dist[j], j))
        for k in range(1, max_sites + 1):
            members = order[:k]
            if k > 1 and dist[members[-1]] > radius:
                break
            for w in range(1, max_days + 1):
                c = counts[members, d - w :].sum()
                mu = counts[members, :].sum() * counts[:, d - w :].sum() / total
                if c > mu:
                    value = c * math.log(c / mu)
                    if total - c > 0:
                        value += (total - c) * math.log((total - c) / (total - mu))
                    best = max(best, value)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_the_vectorised_scan_equals_a_brute_force_enumeration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(3.0, size=(9, 12)).astype(float)
    pos = rng.uniform(0, 5, size=(9, 2))
    found = scan.most_likely(counts, pos, max_days=4, max_sites=4, max_radius_km=2.5, replicates=0)
    want = _brute(counts, pos, 4, 4, 2.5)
    assert (found.llr if found else 0.0) == pytest.approx(want)


def test_an_injected_cluster_is_found_and_significant_and_noise_is_not() -> None:
    rng = np.random.default_rng(7)
    grid = np.array([[x, y] for x, y in itertools.product(range(6), range(5))], dtype=float)
    counts = rng.poisson(4.0, size=(30, 40)).astype(float)
    quiet = scan.most_likely(
        counts, grid, max_days=5, max_sites=6, max_radius_km=1.5, replicates=199
    )
    assert quiet is None or quiet.p_value > 0.05
    near = [0, 1, 5]  # (0,0), (0,1), (1,0): neighbours
    counts[near, -3:] += 7  # an outbreak over the last three days at three adjacent sites
    found = scan.most_likely(
        counts, grid, max_days=5, max_sites=6, max_radius_km=1.5, replicates=199
    )
    assert found is not None
    assert set(found.sites) & set(near) and found.p_value <= 0.01
    assert found.days in (2, 3, 4)


def test_the_p_value_has_the_monte_carlo_form() -> None:
    found = scan.most_likely(COUNTS, POS, max_days=2, max_sites=2, max_radius_km=1.5, replicates=99)
    assert found is not None
    assert (found.p_value * 100) == pytest.approx(round(found.p_value * 100))
    assert 0.01 <= found.p_value <= 1
