"""Unit tests of the surveillance detectors on small hand-computed series."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from yiyun.surveillance.detectors import (
    DISTRICT_SITE,
    cusum,
    detect_frame,
    ears_c1,
    ears_c2,
    ears_c3,
    ewma,
    farrington_flexible,
    moving_percentile,
    run_method,
)
from yiyun.surveillance.detectors._common import moving_baseline
from yiyun.surveillance.detectors.farrington import reference_layout

Z_999 = 3.090232306167813  # qnorm(0.999)
Z_975 = 1.959963984540054  # qnorm(0.975)


def _ears_c3_by_loop(x: list[float], baseline: int = 7, z: float = Z_975) -> list[float]:
    """Straight transcription of earsC's C3 upper bound, one day at a time."""

    def c2(t: int) -> tuple[float, float]:
        ref = x[t - baseline - 2 : t - 2]
        mean, sd = statistics.fmean(ref), statistics.stdev(ref)
        return (x[t] - mean) / sd, sd

    bounds = [math.nan] * len(x)
    for t in range(baseline + 4, len(x)):
        lag2 = max(0.0, c2(t - 2)[0] - 1)
        lag1 = max(0.0, c2(t - 1)[0] - 1)
        bounds[t] = max(0.0, x[t] + c2(t)[1] * (z - (lag2 + lag1)))
    return bounds


def test_it_computes_the_c1_threshold_from_the_previous_seven_days() -> None:
    x = [1, 2, 3, 4, 5, 6, 7, 20]
    result = ears_c1(x)
    sd = math.sqrt(28 / 6)  # sample sd of 1..7
    assert np.isnan(result.threshold[:7]).all()
    assert not result.alarm[:7].any()
    assert result.expected[7] == pytest.approx(4.0)
    assert result.threshold[7] == pytest.approx(4.0 + Z_999 * sd, rel=1e-12)
    assert result.score[7] == pytest.approx((20 - 4) / sd, rel=1e-12)
    assert result.alarm[7]


def test_it_leaves_a_two_day_guard_band_in_c2() -> None:
    x = [1, 2, 3, 4, 5, 6, 7, 100, 100, 20]
    result = ears_c2(x)
    assert np.isnan(result.threshold[:9]).all()
    # day 9 uses days 0..6 only, so the two outbreak days do not inflate the baseline
    assert result.expected[9] == pytest.approx(4.0)
    assert result.threshold[9] == pytest.approx(4.0 + Z_999 * math.sqrt(28 / 6), rel=1e-12)
    assert result.alarm[9]


def test_it_matches_a_loop_transcription_of_earsc_c3() -> None:
    rng = np.random.default_rng(11)
    x = rng.poisson(6, 60).astype(float)
    x[30:33] += [12, 15, 9]
    result = ears_c3(x)
    expected = _ears_c3_by_loop(list(x))
    np.testing.assert_allclose(result.threshold, expected, rtol=1e-12, equal_nan=True)
    assert np.isnan(result.threshold[:11]).all()
    np.testing.assert_array_equal(result.alarm, np.nan_to_num(x > np.array(expected)))


def test_it_reports_the_classic_c3_statistic_as_score() -> None:
    rng = np.random.default_rng(5)
    x = rng.poisson(4, 40).astype(float)
    c2 = ears_c2(x).score
    excess = np.maximum(c2 - 1, 0)
    t = 25
    assert ears_c3(x).score[t] == pytest.approx(excess[t] + excess[t - 1] + excess[t - 2])


def test_it_handles_non_integer_rates_like_the_textbook_definition() -> None:
    rng = np.random.default_rng(8)
    rates = rng.gamma(2.0, 1.7, 50)  # e.g. cases per 10,000 visits
    result = ears_c1(rates)
    for t in range(7, 50):
        ref = list(rates[t - 7 : t])
        mean, sd = statistics.fmean(ref), statistics.stdev(ref)
        assert result.threshold[t] == pytest.approx(mean + Z_999 * sd, rel=1e-12)


def test_it_computes_large_matrices_block_by_block_without_changing_results() -> None:
    rng = np.random.default_rng(12)
    matrix = rng.poisson(4.0, size=(900, 400)).astype(float)  # several row blocks
    for detector in (ears_c1, ears_c3, ewma):
        together = detector(matrix)
        for j in (0, 199, 399):
            alone = detector(matrix[:, j])
            np.testing.assert_array_equal(together.threshold[:, j], alone.threshold)
            np.testing.assert_array_equal(together.alarm[:, j], alone.alarm)


@pytest.mark.parametrize(("window", "lag"), [(7, 0), (7, 2), (28, 2), (3, 5)])
def test_it_computes_the_moving_baseline_like_the_textbook_definition(
    window: int, lag: int
) -> None:
    rng = np.random.default_rng(window + lag)
    counts = rng.poisson(7.0, 80).astype(float)
    for x in (counts, counts / 3.0):  # integer counts and non-integer rates
        mean, sd = moving_baseline(x, window, lag)
        assert np.isnan(mean[: window + lag]).all()
        for t in range(window + lag, 80):
            ref = list(x[t - lag - window : t - lag])
            assert mean[t] == pytest.approx(statistics.fmean(ref), rel=1e-13)
            assert sd[t] == pytest.approx(statistics.stdev(ref), rel=1e-12)


def test_it_alarms_on_the_first_case_after_a_run_of_zeros_in_c1() -> None:
    x = [0] * 10 + [1]
    result = ears_c1(x)
    assert result.threshold[10] == 0.0
    assert result.alarm[10]
    assert np.isinf(result.score[10])
    assert np.isnan(result.score[9])  # 0 / 0 on an all-zero baseline
    assert not result.alarm[:10].any()


def test_it_floors_the_baseline_sd_at_min_sigma() -> None:
    x = [0] * 10 + [1]
    result = ears_c1(x, min_sigma=0.5)
    assert result.threshold[10] == pytest.approx(0.5 * Z_999)
    assert not result.alarm[10]


def test_it_computes_the_cusum_recursion_and_bound_by_hand() -> None:
    x = [2, 2, 2, 2, 2, 6, 8, 2]
    result = cusum(x, reference=4)
    r2 = math.sqrt(2)
    s5 = max(0.0, 4 / r2 - 1.04)
    s6 = s5 + 6 / r2 - 1.04
    s7 = s6 - 1.04
    assert np.isnan(result.score[:4]).all()
    np.testing.assert_allclose(result.score[4:], [0.0, s5, s6, s7], rtol=1e-12)
    assert result.expected[4] == 2.0
    assert list(result.alarm) == [False] * 6 + [True, True]
    assert list(result.threshold[4:]) == [
        math.ceil(r2 * 3.3 + 2),
        math.ceil(r2 * 3.3 + 2),
        math.ceil(r2 * (3.3 - s5) + 2),
        0.0,  # ceil of a negative number is clipped to zero
    ]


def test_it_accepts_a_given_cusum_expectation() -> None:
    x = np.array([9, 9, 9, 1, 5, 5], dtype=float)
    result = cusum(x, reference=3, m=1.0)
    assert result.expected[3:].tolist() == [1.0, 1.0, 1.0]
    assert result.score[3] == 0.0
    assert result.score[4] == pytest.approx(4 - 1.04)
    varying = cusum(x, reference=3, m=np.array([0, 0, 0, 1, 2, 5.0]))
    assert varying.expected[3:].tolist() == [1.0, 2.0, 5.0]


def test_it_alarms_on_any_case_after_an_all_zero_cusum_reference_like_r() -> None:
    result = cusum([0, 0, 0, 0, 3, 0], reference=4)
    # m = 0: (3 - 0) / sqrt(0) = inf, as in algo.cusum; afterwards 0 / 0 is undefined
    assert result.alarm.tolist() == [False, False, False, False, True, False]
    assert np.isinf(result.score[4])
    assert np.isnan(result.score[5])
    assert (result.threshold[4:] == 0).all()  # R sets undefined bounds to 0


def test_it_computes_the_ewma_chart_by_hand() -> None:
    x = [2, 4, 6, 3, 9, 5]
    result = ewma(x, lam=0.5, limit=2.0, baseline=3, lag=0)
    assert np.isnan(result.expected[:3]).all()
    # t=3: baseline 2,4,6 -> mean 4, sd 2; E = 0.5*3 + 0.5*4 (start at the mean)
    e3, s3 = 3.5, 2 * math.sqrt(0.5 / 1.5 * (1 - 0.5**2))
    # t=4: baseline 4,6,3; E = 0.5*9 + 0.5*3.5
    m4, sd4 = 13 / 3, math.sqrt(((4 - 13 / 3) ** 2 + (6 - 13 / 3) ** 2 + (3 - 13 / 3) ** 2) / 2)
    e4, s4 = 6.25, sd4 * math.sqrt(0.5 / 1.5 * (1 - 0.5**4))
    # t=5: baseline 6,3,9 -> mean 6, sd 3; E = 0.5*5 + 0.5*6.25
    e5, s5 = 5.625, 3 * math.sqrt(0.5 / 1.5 * (1 - 0.5**6))
    np.testing.assert_allclose(result.expected[3:], [4, m4, 6], rtol=1e-12)
    np.testing.assert_allclose(
        result.score[3:], [(e3 - 4) / s3, (e4 - m4) / s4, (e5 - 6) / s5], rtol=1e-12
    )
    np.testing.assert_allclose(
        result.threshold[3:],
        [
            (4 + 2 * s3 - 0.5 * 4) / 0.5,
            (m4 + 2 * s4 - 0.5 * e3) / 0.5,
            (6 + 2 * s5 - 0.5 * e4) / 0.5,
        ],
        rtol=1e-12,
    )
    assert result.alarm.tolist() == [False, False, False, False, True, False]
    # the count-scale threshold is exactly the alarm boundary
    assert ((np.asarray(x) > result.threshold) == result.alarm)[3:].all()


def test_it_computes_the_moving_percentile_on_a_small_configuration() -> None:
    x = np.arange(30, dtype=float)
    result = moving_percentile(
        x, percentile=50, window=1, years=1, half_span=1, step=1, year_length=10
    )
    assert np.isnan(result.threshold[:11]).all()
    # day 11 compares with days 0, 1, 2 (one "year" of 10 days earlier, +-1 day)
    assert result.threshold[11] == 1.0
    assert result.score[11] == 11.0
    assert result.alarm[11]


def test_it_uses_seven_day_sums_of_three_previous_years_by_default() -> None:
    x = np.full(1200, 2.0)
    x[1150] = 10.0
    result = moving_percentile(x)
    assert np.isnan(result.threshold[:1112]).all()
    assert result.threshold[1112] == 14.0
    assert result.expected[1112] == 14.0
    assert result.score[1150] == 22.0
    assert result.alarm[1150:1157].all()
    assert not result.alarm[1157:].any()
    assert not result.alarm[:1150].any()


def test_it_lays_out_the_ten_period_reference_like_farringtonflexible() -> None:
    offsets, levels = reference_layout(52, 3, 3, 10, 26)
    assert offsets.min() == -159
    assert offsets.max() == -27
    assert offsets.size == 160 - 27
    by_offset = dict(zip(offsets.tolist(), levels.tolist(), strict=True))
    for year in (1, 2, 3):
        for d in range(-3, 4):
            assert by_offset[-52 * year + d] == 10
    # 52 - 2*3 - 1 = 45 points between two windows: nine blocks of five
    for j in range(9):
        assert by_offset[-100 + 5 * j] == j + 1
        assert by_offset[-100 + 5 * j + 4] == j + 1
    assert by_offset[-55] == 10
    assert -26 not in by_offset


def test_it_makes_the_first_blocks_one_point_longer_when_the_gap_does_not_divide() -> None:
    offsets, levels = reference_layout(50, 3, 3, 10, 26)
    by_offset = dict(zip(offsets.tolist(), levels.tolist(), strict=True))
    # 50 - 7 = 43 points: seven blocks of five, then two of four
    assert [by_offset[o] for o in (-96, -92, -91, -62, -61, -58, -57, -54, -53)] == [
        1,
        1,
        2,
        7,
        8,
        8,
        9,
        9,
        10,
    ]


def test_it_keeps_only_the_windows_in_the_original_farrington_layout() -> None:
    offsets, levels = reference_layout(52, 3, 3, 1, 3)
    assert offsets.size == 21
    assert set(levels.tolist()) == {1}


def _weekly_series(seed: int, years: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(52 * years)
    return rng.poisson(10 * np.exp(0.5 * np.sin(2 * np.pi * t / 52))).astype(float)


def test_it_flags_a_large_spike_in_farrington() -> None:
    x = _weekly_series(1)
    quiet = farrington_flexible(x)
    x[-1] = 80
    loud = farrington_flexible(x, time_points=[-1])
    assert loud.alarm[-1]
    assert loud.score[-1] > 1
    assert np.isnan(loud.threshold[:-1]).all()
    assert quiet.threshold[-1] == loud.threshold[-1]  # the current week is not in the reference
    assert quiet.alarm[160:].mean() < 0.1


def test_it_starts_farrington_after_b_years_plus_w() -> None:
    result = farrington_flexible(_weekly_series(2))
    assert np.isnan(result.expected[: 52 * 3 + 3]).all()
    assert np.isfinite(result.phi[52 * 3 + 3 :]).all()


def test_it_suppresses_farrington_alarms_below_five_cases_in_four_weeks() -> None:
    rng = np.random.default_rng(3)
    x = rng.poisson(0.2, 52 * 5).astype(float)
    x[-4:] = [0, 0, 0, 4]
    result = farrington_flexible(x, time_points=[-1])
    assert np.isnan(result.threshold[-1])
    assert not result.alarm[-1]
    x[-2] = 1
    assert farrington_flexible(x, time_points=[-1]).alarm[-1]


def test_it_gives_the_same_farrington_result_with_statsmodels() -> None:
    x = _weekly_series(4)
    points = [-30, -10, -1]
    fast = farrington_flexible(x, time_points=points)
    slow = farrington_flexible(x, time_points=points, engine="statsmodels")
    for name in ("threshold", "expected", "phi", "score"):
        np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-4)
    np.testing.assert_array_equal(fast.alarm, slow.alarm)


def test_it_rejects_farrington_time_points_without_enough_history() -> None:
    with pytest.raises(ValueError, match="not computable"):
        farrington_flexible(_weekly_series(5), time_points=[100])


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("ears-c1", {}),
        ("ears-c2", {}),
        ("ears-c3", {}),
        ("cusum", {}),
        ("ewma", {}),
        ("percentile", {}),
        ("farrington", {"freq": 52, "time_points": [-3, -2, -1]}),
    ],
)
def test_it_treats_each_column_of_a_matrix_as_an_independent_series(
    method: str, params: dict[str, object]
) -> None:
    rng = np.random.default_rng(9)
    matrix = rng.poisson([1.0, 5.0, 0.1], size=(1200, 3)).astype(float)
    together = run_method(method, matrix, params)
    for j in range(3):
        alone = run_method(method, matrix[:, j], params)
        for name in ("expected", "threshold", "score", "alarm"):
            got = getattr(together, name)
            assert got.shape == matrix.shape
            # batched linear algebra may round differently in the last bit
            np.testing.assert_allclose(got[:, j], getattr(alone, name), rtol=1e-12, err_msg=name)
        np.testing.assert_array_equal(together.alarm[:, j], alone.alarm)


@pytest.mark.parametrize("method", ["ears-c1", "ears-c3", "cusum", "ewma", "percentile"])
def test_it_returns_only_nan_for_a_series_shorter_than_the_baseline(method: str) -> None:
    short = [3, 1, 2, 5]
    if method == "cusum":
        result = cusum(short, reference=3)
        assert np.isnan(result.threshold[:3]).all()
        return
    result = run_method(method, short)
    assert np.isnan(result.threshold).all()
    assert not result.alarm.any()


@pytest.mark.parametrize("bad", [[1, -1, 2], [1, np.nan, 2], [[[1]]]])
def test_it_rejects_invalid_counts(bad: object) -> None:
    with pytest.raises(ValueError, match="counts"):
        ears_c1(bad)  # type: ignore[arg-type]


def test_it_rejects_a_baseline_shorter_than_three_days() -> None:
    with pytest.raises(ValueError, match="Minimum baseline"):
        ears_c1([1, 2, 3, 4], baseline=2)


def _long_frame() -> pd.DataFrame:
    rng = np.random.default_rng(21)
    days = pd.date_range("2024-01-01", periods=60, freq="D")
    rows = [
        (day, site, syndrome, int(count))
        for site, lam in (("s1", 3.0), ("s2", 6.0))
        for syndrome in ("fever", "cough")
        for day, count in zip(days, rng.poisson(lam, len(days)), strict=True)
    ]
    return pd.DataFrame(rows, columns=["date", "site", "syndrome", "count"])


def test_it_runs_a_method_per_site_and_for_the_district_total() -> None:
    frame = _long_frame()
    out = detect_frame(frame, "ears-c1")
    assert len(out) == len(frame) + 2 * 60
    assert list(out.columns) == [*frame.columns, "expected", "threshold", "score", "alarm"]
    one = out[(out.site == "s2") & (out.syndrome == "cough")].sort_values("date")
    direct = ears_c1(one["count"].to_numpy())
    np.testing.assert_array_equal(one["threshold"].to_numpy(), direct.threshold)
    district = out[(out.site == DISTRICT_SITE) & (out.syndrome == "fever")].sort_values("date")
    summed = frame[frame.syndrome == "fever"].groupby("date")["count"].sum().to_numpy()
    np.testing.assert_array_equal(district["count"].to_numpy(), summed)
    np.testing.assert_array_equal(district["threshold"].to_numpy(), ears_c1(summed).threshold)


def test_it_fills_missing_days_with_zero() -> None:
    frame = _long_frame()
    hole = pd.Timestamp("2024-01-20")
    gap = frame[~((frame.site == "s1") & (frame.syndrome == "fever") & (frame.date == hole))]
    out = detect_frame(gap, "ears-c1", district=False)
    assert len(out) == len(gap)
    series = frame[(frame.site == "s1") & (frame.syndrome == "fever")].sort_values("date")
    counts = series["count"].to_numpy().copy()
    counts[19] = 0
    got = out[(out.site == "s1") & (out.syndrome == "fever")].sort_values("date")
    expected = np.delete(ears_c1(counts).threshold, 19)
    np.testing.assert_array_equal(got["threshold"].to_numpy(), expected)


def test_it_rejects_duplicate_rows_in_the_frame() -> None:
    frame = _long_frame()
    with pytest.raises(ValueError, match="duplicate"):
        detect_frame(pd.concat([frame, frame.iloc[:1]]), "cusum")
