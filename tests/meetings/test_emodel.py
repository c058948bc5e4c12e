"""The G.107 E-model against the Recommendation's own reference points.

References:
- ITU-T G.107 (06/2015) Table 3 defaults give R = 93.2; the parts of that rating,
  Ro = 94.77, Is = 1.41 and Id = 0.15, are the ones planning tools quote (the same
  Ro = 94.768 is the constant in twilio-video.js `lib/preflight/mos.ts`).
- ITU-T G.109 Table 1: lower MOS limits 4.34, 4.03, 3.60, 3.10 and 2.58 for the
  R-value categories starting at 90, 80, 70, 60 and 50 (G.107 Annex B's curve).
- G.107 clause 7.3: Idd is 0 up to mT = 100 ms; at Ta = 2 mT (X = 1) it is
  25 (2^(1/6) - 3 (1 + 3^-6)^(1/6) + 2) = 3.04.
- G.107 clause 7.4: at Ppl = Bpl (random loss) half the headroom above Ie is lost.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from yiyun.meetings import emodel
from yiyun.meetings.emodel import EModelParams, r_factor, r_to_mos, rate

DEFAULTS = EModelParams()


def test_the_table_3_defaults_rate_93_2() -> None:
    r = r_factor(DEFAULTS)
    assert round(r, 1) == 93.2
    assert r_to_mos(r) == pytest.approx(4.41, abs=0.005)


def test_the_default_rating_splits_into_the_quoted_parts() -> None:
    no = emodel._noise(DEFAULTS)
    ro = 15 - 1.5 * (DEFAULTS.slr + no)
    ist = emodel._sidetone(DEFAULTS)
    is_ = emodel._simultaneous(DEFAULTS, ro, no, ist)
    id_ = (
        emodel._talker_echo(DEFAULTS, no, ist)
        + emodel._listener_echo(DEFAULTS, ro)
        + emodel._absolute_delay(DEFAULTS)
    )
    assert ro == pytest.approx(94.768, abs=0.001)
    assert is_ == pytest.approx(1.41, abs=0.01)
    assert id_ == pytest.approx(0.15, abs=0.01)


@pytest.mark.parametrize(
    ("r", "mos"),
    [(90, 4.34), (80, 4.03), (70, 3.60), (60, 3.10), (50, 2.58)],
)
def test_mos_matches_the_g109_category_limits(r: float, mos: float) -> None:
    assert r_to_mos(r) == pytest.approx(mos, abs=0.01)


@pytest.mark.parametrize(("r", "mos"), [(-5, 1.0), (0, 1.0), (3, 1.0), (100, 4.5), (120, 4.5)])
def test_mos_is_clamped_outside_0_to_100(r: float, mos: float) -> None:
    assert r_to_mos(r) == mos


@pytest.mark.parametrize(
    ("r", "label"),
    [
        (93.2, "excellent"),
        (90, "excellent"),
        (85, "good"),
        (75, "fair"),
        (65, "poor"),
        (55, "bad"),
        (-3, "bad"),
    ],
)
def test_labels_follow_the_g109_bands(r: float, label: str) -> None:
    assert emodel.label(r) == label


@pytest.mark.parametrize(("ta", "idd"), [(0, 0.0), (100, 0.0), (200, 3.04)])
def test_absolute_delay_impairment(ta: float, idd: float) -> None:
    got = emodel._absolute_delay(dataclasses.replace(DEFAULTS, ta=ta))
    assert got == pytest.approx(idd, abs=0.01)


def test_loss_at_bpl_costs_half_the_headroom() -> None:
    p = dataclasses.replace(DEFAULTS, ie=11, bpl=19, ppl=19)
    assert emodel._effective_equipment(p) == pytest.approx(11 + (95 - 11) / 2)


def test_bursty_loss_hurts_more_than_random_loss() -> None:
    random = r_factor(dataclasses.replace(DEFAULTS, ppl=3))
    bursty = r_factor(dataclasses.replace(DEFAULTS, ppl=3, burst_r=2))
    assert bursty < random


def test_a_perfect_opus_call_is_excellent() -> None:
    rating = rate(rtt_ms=20, jitter_ms=2, loss_pct=0)
    assert rating.label == "excellent"
    assert 90 < rating.r < 93.3
    assert rating.mos == pytest.approx(r_to_mos(rating.r))


@pytest.mark.parametrize(
    ("rtt", "jitter", "loss", "label"),
    [
        (40, 5, 0, "excellent"),
        (40, 5, 1, "good"),
        (40, 5, 2, "fair"),
        (300, 30, 0, "good"),
        (400, 30, 0, "fair"),
        (500, 40, 0, "poor"),
        (600, 60, 0, "bad"),
        (40, 5, 10, "bad"),
    ],
)
def test_typical_networks(rtt: float, jitter: float, loss: float, label: str) -> None:
    assert rate(rtt_ms=rtt, jitter_ms=jitter, loss_pct=loss).label == label


def test_g711_with_concealment_tolerates_loss_better_than_without() -> None:
    g711 = rate(rtt_ms=40, jitter_ms=5, loss_pct=2, codec="PCMU")
    bare = r_factor(EModelParams(t=60, ta=60, tr=120, ppl=2))  # Table 3's Bpl = 4.3
    assert g711.r > bare


GRID = [0, 1, 5, 20, 50, 80, 100, 150, 200, 300, 500, 1000, 3000]


@pytest.mark.parametrize("codec", sorted(emodel.CODECS))
def test_more_delay_or_loss_never_raises_r(codec: str) -> None:
    for jitter in (0, 10, 50):
        for loss in (0, 0.5, 2, 10, 50):
            rs = [rate(rtt_ms=d, jitter_ms=jitter, loss_pct=loss, codec=codec).r for d in GRID]
            assert rs == sorted(rs, reverse=True), (jitter, loss)
    for rtt in (0, 100, 400):
        rs = [rate(rtt_ms=rtt, jitter_ms=5, loss_pct=x, codec=codec).r for x in GRID[:-6]]
        assert rs == sorted(rs, reverse=True), rtt
        js = [rate(rtt_ms=rtt, jitter_ms=j, loss_pct=1, codec=codec).r for j in GRID]
        assert js == sorted(js, reverse=True), rtt


def test_ratings_stay_in_bounds_at_the_extremes() -> None:
    worst = rate(rtt_ms=60_000, jitter_ms=10_000, loss_pct=100)
    best = rate(rtt_ms=0, jitter_ms=0, loss_pct=0)
    assert worst.r < 0 and worst.mos == 1.0 and worst.label == "bad"
    assert best.r <= 93.3 and 1.0 <= best.mos <= 4.5
    for r in range(-50, 150):
        assert 1.0 <= r_to_mos(r) <= 4.5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rtt_ms": -1},
        {"jitter_ms": -0.1},
        {"loss_pct": -2},
        {"loss_pct": 101},
        {"rtt_ms": math.nan},
        {"jitter_ms": math.inf},
        {"loss_pct": math.nan},
        {"codec": "speex"},
    ],
)
def test_bad_measurements_are_refused(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"rtt_ms": 50, "jitter_ms": 5, "loss_pct": 0} | kwargs
    with pytest.raises(ValueError):
        rate(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "field",
    [{"ta": -1}, {"ppl": 120}, {"burst_r": 0.5}, {"bpl": 0}, {"slr": math.nan}, {"qdu": 0}],
)
def test_bad_parameters_are_refused(field: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        EModelParams(**field)


def test_mos_of_nan_is_refused() -> None:
    with pytest.raises(ValueError):
        r_to_mos(math.nan)
