"""Tests of ``surveillance detect`` through click's test runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from yiyun.surveillance.cli import surveillance
from yiyun.surveillance.detectors import DISTRICT_SITE, ears_c1, ewma

HEADER = "date,site,syndrome,count\n"


def _good_csv(path: Path, days: int = 90) -> pd.DataFrame:
    rng = np.random.default_rng(77)
    dates = pd.date_range("2024-03-01", periods=days, freq="D").strftime("%Y-%m-%d")
    frame = pd.DataFrame(
        [
            (date, site, syndrome, int(count))
            for site in ("township-a", "township-b", "county-hospital")
            for syndrome in ("fever", "diarrhoea")
            for date, count in zip(dates, rng.poisson(5, days), strict=True)
        ],
        columns=["date", "site", "syndrome", "count"],
    )
    frame.to_csv(path, index=False)
    return frame


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(surveillance, list(args))
    return result.exit_code, result.output


def test_it_writes_the_input_rows_and_district_totals_with_results(tmp_path: Path) -> None:
    source = tmp_path / "counts.csv"
    target = tmp_path / "alarms.csv"
    frame = _good_csv(source)
    code, output = _run(
        "detect", "--method", "ears-c1", "--input", str(source), "--output", str(target)
    )
    assert code == 0, output
    out = pd.read_csv(target)
    assert list(out.columns) == [
        "date",
        "site",
        "syndrome",
        "count",
        "expected",
        "threshold",
        "score",
        "alarm",
    ]
    assert len(out) == len(frame) + 2 * 90
    assert set(out["site"]) == {"township-a", "township-b", "county-hospital", DISTRICT_SITE}
    assert out["alarm"].dtype == bool
    assert f"{int(out['alarm'].sum())} alarm(s)" in output
    one = out[(out.site == "township-b") & (out.syndrome == "fever")]
    np.testing.assert_allclose(
        one["threshold"].to_numpy(), ears_c1(one["count"].to_numpy()).threshold, rtol=1e-12
    )
    district = out[(out.site == DISTRICT_SITE) & (out.syndrome == "diarrhoea")]
    expected_total = frame[frame.syndrome == "diarrhoea"].groupby("date")["count"].sum()
    np.testing.assert_array_equal(district["count"].to_numpy(), expected_total.to_numpy())
    assert district["date"].iloc[0] == "2024-03-01"


@pytest.mark.parametrize(
    "method", ["ears-c1", "ears-c2", "ears-c3", "cusum", "ewma", "farrington", "percentile"]
)
def test_it_runs_every_method(tmp_path: Path, method: str) -> None:
    source = tmp_path / "counts.csv"
    _good_csv(source, days=40)
    target = tmp_path / "out.csv"
    code, output = _run(
        "detect", "--method", method, "--input", str(source), "--output", str(target)
    )
    assert code == 0, output
    assert len(pd.read_csv(target)) == 6 * 40 + 2 * 40


def test_it_runs_farrington_on_three_years_of_daily_counts(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    days = pd.date_range("2021-01-01", periods=3 * 365 + 30, freq="D")
    counts = rng.poisson(6, len(days))
    counts[-1] = 40  # an outbreak today
    frame = pd.DataFrame(
        {"date": days.strftime("%Y-%m-%d"), "site": "a", "syndrome": "ili", "count": counts}
    )
    source, target = tmp_path / "counts.csv", tmp_path / "out.csv"
    frame.to_csv(source, index=False)
    code, output = _run(
        "detect", "--method", "farrington", "--input", str(source), "--output", str(target),
        "--no-district",
    )  # fmt: skip
    assert code == 0, output
    out = pd.read_csv(target)
    computed = out["threshold"].notna()
    assert computed.sum() == len(days) - (3 * 365 + 3)  # from index b*365 + w on
    assert bool(out["alarm"].iloc[-1])
    assert out["alarm"].iloc[:-1].mean() < 0.2

    code, output = _run(
        "detect", "--method", "farrington", "--input", str(source), "--output", str(target),
        "--no-district", "--param", "time_points=-1",
    )  # fmt: skip
    assert code == 0, output
    today_only = pd.read_csv(target)
    assert today_only["threshold"].notna().sum() == 1
    assert today_only["threshold"].iloc[-1] == out["threshold"].iloc[-1]


def test_it_passes_parameters_to_the_method(tmp_path: Path) -> None:
    source = tmp_path / "counts.csv"
    target = tmp_path / "out.csv"
    _good_csv(source)
    code, output = _run(
        "detect",
        "--method",
        "ewma",
        "--input",
        str(source),
        "--output",
        str(target),
        "--param",
        "lam=0.2",
        "--param",
        "baseline=14",
        "--no-district",
    )
    assert code == 0, output
    out = pd.read_csv(target)
    assert DISTRICT_SITE not in set(out["site"])
    one = out[(out.site == "township-a") & (out.syndrome == "fever")]
    direct = ewma(one["count"].to_numpy(), lam=0.2, baseline=14)
    np.testing.assert_allclose(one["score"].to_numpy(), direct.score, rtol=1e-12)


def test_it_rejects_an_unknown_parameter(tmp_path: Path) -> None:
    source = tmp_path / "counts.csv"
    _good_csv(source)
    code, output = _run(
        "detect", "--method", "cusum", "--input", str(source), "--output", str(tmp_path / "o.csv"),
        "--param", "lambda=3",
    )  # fmt: skip
    assert code == 2
    assert "--param" in output
    assert "reference" in output


def test_it_names_the_missing_columns(tmp_path: Path) -> None:
    source = tmp_path / "counts.csv"
    source.write_text("date,clinic,count\n2024-01-01,a,3\n", encoding="utf-8")
    code, output = _run(
        "detect", "--method", "cusum", "--input", str(source), "--output", str(tmp_path / "o.csv")
    )
    assert code == 2
    assert "missing column(s) site, syndrome" in output
    assert not (tmp_path / "o.csv").exists()


def test_it_names_the_lines_with_bad_counts_and_dates(tmp_path: Path) -> None:
    source = tmp_path / "counts.csv"
    source.write_text(
        HEADER
        + "2024-01-01,a,fever,3\n"  # line 2: fine
        + "2024-01-02,a,fever,2.5\n"  # line 3: not an integer
        + "2024-01-03,a,fever,-4\n"  # line 4: negative
        + "2024-02-30,a,fever,1\n"  # line 5: no such date
        + "2024-01-05,a,fever,many\n"  # line 6: not a number
        + "05/01/2024,a,fever,1\n"  # line 7: wrong date format
        + "2024-01-08,a,fever,\n",  # line 8: empty count
        encoding="utf-8",
    )
    code, output = _run(
        "detect", "--method", "ears-c1", "--input", str(source), "--output", str(tmp_path / "o.csv")
    )
    assert code == 2
    assert "count is not an integer on line(s) 3, 6, 8" in output
    assert "count is negative on line(s) 4" in output
    assert "invalid date (expected YYYY-MM-DD) on line(s) 5, 7" in output


def test_it_names_duplicate_lines(tmp_path: Path) -> None:
    source = tmp_path / "counts.csv"
    source.write_text(
        HEADER + "2024-01-01,a,fever,3\n2024-01-02,a,fever,3\n2024-01-01,a,fever,4\n",
        encoding="utf-8",
    )
    code, output = _run(
        "detect", "--method", "ears-c1", "--input", str(source), "--output", str(tmp_path / "o.csv")
    )
    assert code == 2
    assert "duplicate date/site/syndrome on line(s) 2, 4" in output


def test_it_rejects_an_empty_file(tmp_path: Path) -> None:
    source = tmp_path / "counts.csv"
    source.write_text("", encoding="utf-8")
    code, output = _run(
        "detect", "--method", "ears-c1", "--input", str(source), "--output", str(tmp_path / "o.csv")
    )
    assert code == 2
    assert "empty" in output


def test_it_rejects_an_unknown_method(tmp_path: Path) -> None:
    source = tmp_path / "counts.csv"
    _good_csv(source)
    code, output = _run(
        "detect", "--method", "c4", "--input", str(source), "--output", str(tmp_path / "o.csv")
    )
    assert code == 2
    assert "ears-c1" in output


def test_it_exposes_a_click_group_named_surveillance() -> None:
    import click

    assert isinstance(surveillance, click.Group)
    assert surveillance.name == "surveillance"
    assert "detect" in surveillance.commands
