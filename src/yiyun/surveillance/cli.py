"""Command line for syndromic surveillance: ``yiyun surveillance detect``.

Reads a CSV of daily counts (``date,site,syndrome,count``, ISO dates, one row
per date/site/syndrome), runs one detection method per (site, syndrome) and for
the district total of each syndrome (``site = *ALL*``), and writes the rows
back with ``expected,threshold,score,alarm`` added. Input problems are reported
with the CSV line numbers (the header is line 1).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from .detectors import DISTRICT_SITE, METHODS, detect_frame

__all__ = ["surveillance"]

_REQUIRED = ("date", "site", "syndrome", "count")
_MAX_LISTED = 10


def _lines(mask: pd.Series[bool]) -> str:
    """Return the CSV line numbers of the flagged rows (header = line 1), abbreviated."""
    numbers = [int(i) + 2 for i in np.flatnonzero(mask.to_numpy())]
    shown = ", ".join(str(n) for n in numbers[:_MAX_LISTED])
    more = len(numbers) - _MAX_LISTED
    return f"{shown} (and {more} more)" if more > 0 else shown


def _read_counts(path: Path) -> pd.DataFrame:
    """Read and validate the input CSV; raise click errors that name the offending lines."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise click.BadParameter("the file is empty", param_hint="--input") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"not a readable CSV file: {exc}", param_hint="--input") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        raise click.UsageError(
            f"input is missing column(s) {', '.join(missing)}; "
            f"expected columns {','.join(_REQUIRED)} (found {','.join(raw.columns)})"
        )
    data: pd.DataFrame = raw.loc[:, list(_REQUIRED)].apply(lambda col: col.str.strip())
    problems: list[str] = []

    dates = pd.to_datetime(data["date"], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        problems.append(f"invalid date (expected YYYY-MM-DD) on line(s) {_lines(dates.isna())}")

    numbers = pd.to_numeric(data["count"], errors="coerce")
    finite = np.isfinite(numbers.to_numpy(dtype=np.float64))
    not_integer = ~finite | (numbers != np.floor(numbers))
    negative = ~not_integer & (numbers < 0)
    if not_integer.any():
        problems.append(f"count is not an integer on line(s) {_lines(not_integer)}")
    if negative.any():
        problems.append(f"count is negative on line(s) {_lines(negative)}")

    for column in ("site", "syndrome"):
        empty = data[column] == ""
        if empty.any():
            problems.append(f"empty {column} on line(s) {_lines(empty)}")
    if problems:
        raise click.BadParameter("; ".join(problems), param_hint="--input")

    data["date"] = dates
    data["count"] = numbers.astype(np.int64)
    duplicated = data.duplicated(["date", "site", "syndrome"], keep=False)
    if duplicated.any():
        raise click.BadParameter(
            f"duplicate date/site/syndrome on line(s) {_lines(duplicated)}", param_hint="--input"
        )
    if (data["site"] == DISTRICT_SITE).any():
        raise click.BadParameter(
            f"site name {DISTRICT_SITE!r} is reserved for the district total "
            f"(line(s) {_lines(data['site'] == DISTRICT_SITE)})",
            param_hint="--input",
        )
    return data


def _parse_params(method: str, pairs: tuple[str, ...]) -> dict[str, Any]:
    """Turn ``name=value`` strings into keyword arguments accepted by the method."""
    accepted = {
        name
        for name, p in inspect.signature(METHODS[method]).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in accepted:
            raise click.BadParameter(
                f"{pair!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(accepted))}",
                param_hint="--param",
            )
        params[name] = _literal(text.strip())
    return params


def _literal(text: str) -> Any:
    """Interpret a parameter value as bool, int, float, a comma-separated tuple, or string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if "," in text:
        return tuple(_literal(part.strip()) for part in text.split(","))
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


@click.group(name="surveillance")
def surveillance() -> None:
    """Syndromic surveillance: outbreak detection over daily case counts."""


@surveillance.command("detect")
@click.option(
    "--method",
    required=True,
    type=click.Choice(list(METHODS)),
    help="Detection algorithm.",
)
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with columns date,site,syndrome,count (one row per date/site/syndrome).",
)
@click.option(
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV to write: the input rows plus expected,threshold,score,alarm.",
)
@click.option(
    "--district/--no-district",
    default=True,
    show_default=True,
    help=f"Also analyse the per-syndrome total over all sites (site {DISTRICT_SITE!r}).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a method parameter, e.g. --param alpha=0.01 (repeatable).",
)
def detect(
    method: str, input_path: Path, output_path: Path, district: bool, params: tuple[str, ...]
) -> None:
    """Flag aberrations in daily counts per site and syndrome.

    Days without a row count as zero. Methods: ears-c1/c2/c3 (CDC EARS), cusum
    (reference = first 28 days), ewma, farrington (improved Farrington on the
    daily points, freq 365; needs three years of history; add
    --param time_points=-1 to evaluate only the last day) and percentile
    (CIDARS 7-day moving percentile; needs about three years of history).
    """
    kwargs = _parse_params(method, params)
    data = _read_counts(input_path)
    try:
        result = detect_frame(data, method, params=kwargs, district=district)
    except (ValueError, TypeError) as exc:
        raise click.UsageError(f"{method}: {exc}") from None
    result["date"] = pd.to_datetime(result["date"]).dt.strftime("%Y-%m-%d")
    result.to_csv(output_path, index=False)
    click.echo(
        f"{method}: {len(result)} rows, {int(result['alarm'].sum())} alarm(s) -> {output_path}"
    )


@surveillance.command("run")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Last day to evaluate (default: yesterday).",
)
def run_command(as_of: Any) -> None:
    """Run the daily detection over every site and the district now (idempotent)."""
    import asyncio

    from yiyun.core.db import create_engine, session_factory, transaction
    from yiyun.settings import get_settings
    from yiyun.surveillance import detection

    settings = get_settings()

    async def go() -> detection.RunSummary:
        engine = create_engine(settings.db.url)
        try:
            async with transaction(session_factory(engine)) as session:
                return await detection.run(
                    session=session,
                    bus=None,
                    as_of=as_of.date() if as_of else None,
                    config=settings.surveillance,
                )
        finally:
            await engine.dispose()

    summary = asyncio.run(go())
    click.echo(
        f"{summary.as_of}: {summary.series} series, {summary.signals} signals, "
        f"{summary.alerts_created} new alerts, {summary.alerts_merged} merged "
        f"({summary.seconds:.2f} s)"
    )
