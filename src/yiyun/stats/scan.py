"""Space-time permutation scan statistic (Kulldorff et al., PLoS Medicine 2005).

Pure numbers, no database: counts `c[site, day]`, site positions in km, and the scan.

Given only case counts (no population), the expected count of a space-time cylinder A
(a set of neighbouring sites × the last w days) conditions on the margins::

    μ_A = C_sites(A) · C_days(A) / C

where C_sites(A) is the total of A's sites over the whole study period, C_days(A) the
total of all sites over A's days and C the grand total. A cylinder with more cases than
expected (c_A > μ_A) scores the Poisson generalised log-likelihood ratio::

    LLR_A = c_A · ln(c_A / μ_A) + (C − c_A) · ln((C − c_A) / (C − μ_A))

(0 otherwise). The most likely cluster maximises it. Its p-value comes from Monte Carlo
replicates that keep both margins: every case keeps its site and gets a day drawn by a
random permutation of all cases' days; p = (1 + #replicates whose maximum ≥ the
observed) / (1 + R).

Cylinders are prospective (they end on the last day, as a daily surveillance run needs):
centred on each site, growing through its nearest neighbours up to `max_sites` sites
and `max_radius_km`, and spanning 1..`max_days` days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass(frozen=True)
class Cylinders:
    """Each centre's neighbours, nearest first (`order[i, k]`), and which are in range."""

    order: Ints  # (Z, K)
    valid: NDArray[np.bool_]  # (Z, K)
    radius: Floats  # (Z, K): distance of the k-th neighbour from centre i


def cylinders(positions_km: Floats, *, max_sites: int, max_radius_km: float) -> Cylinders:
    z = positions_km.shape[0]
    k = max(1, min(max_sites, z))
    diff = positions_km[:, None, :] - positions_km[None, :, :]
    dist = np.sqrt((diff**2).sum(axis=2))
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    radius = np.take_along_axis(dist, order, axis=1)
    valid = radius <= max_radius_km
    valid[:, 0] = True  # a centre alone is always a cylinder
    return Cylinders(order=order.astype(np.int64), valid=valid, radius=radius)


def llr(c: Floats, mu: Floats, total: float) -> Floats:
    """The log-likelihood ratio of cylinders with c cases and μ expected (0 unless c > μ)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = np.where(c > 0, c * np.log(c / mu), 0.0)
        rest = total - c
        outside = np.where(rest > 0, rest * np.log(rest / (total - mu)), 0.0)
        out = inside + outside
    return np.where((c > mu) & (mu > 0), out, 0.0)


def _scores(counts: Floats, cyl: Cylinders, max_days: int, mu: Floats, total: float) -> Floats:
    w = min(max_days, counts.shape[1])
    tail = np.cumsum(counts[:, ::-1][:, :w], axis=1)  # (Z, W): last 1..W days per site
    c_a = np.cumsum(tail[cyl.order], axis=1)  # (Z, K, W)
    scores = llr(c_a, mu, total)
    scores[~cyl.valid] = 0.0
    return scores


def _expected(counts: Floats, cyl: Cylinders, max_days: int) -> tuple[Floats, float]:
    total = float(counts.sum())
    w = min(max_days, counts.shape[1])
    by_site = counts.sum(axis=1)
    by_day_tail = np.cumsum(counts.sum(axis=0)[::-1][:w])  # (W,)
    site_cum = np.cumsum(by_site[cyl.order], axis=1)  # (Z, K)
    mu = site_cum[:, :, None] * by_day_tail[None, None, :] / max(total, 1.0)
    return mu, total


@dataclass(frozen=True)
class Cluster:
    centre: int
    sites: list[int]  # indices into the site axis
    days: int  # the cluster spans the last `days` days
    observed: int
    expected: float
    llr: float
    p_value: float
    radius_km: float
    replicates: int


def most_likely(
    counts: Floats,
    positions_km: Floats,
    *,
    max_days: int = 7,
    max_sites: int | None = None,
    max_radius_km: float = 5.0,
    replicates: int = 999,
    seed: int = 0,
) -> Cluster | None:
    """The most likely cluster and its Monte Carlo p-value; None without any excess."""
    counts = np.asarray(counts, dtype=np.float64)
    z, d = counts.shape
    cyl = cylinders(
        positions_km, max_sites=max_sites or max(1, z // 2), max_radius_km=max_radius_km
    )
    mu, total = _expected(counts, cyl, max_days)
    if total <= 0:
        return None
    scores = _scores(counts, cyl, max_days, mu, total)
    best = float(scores.max())
    if best <= 0:
        return None
    i, k, w = np.unravel_index(int(scores.argmax()), scores.shape)
    beaten = 0
    if replicates:
        rng = np.random.default_rng(seed)
        flat = counts.astype(np.int64).ravel()
        site_of = np.repeat(np.repeat(np.arange(z), d), flat)
        day_of = np.repeat(np.tile(np.arange(d), z), flat)
        for _ in range(replicates):
            shuffled = rng.permutation(day_of)
            table = np.bincount(site_of * d + shuffled, minlength=z * d).reshape(z, d)
            if _scores(table.astype(np.float64), cyl, max_days, mu, total).max() >= best - 1e-9:
                beaten += 1
    members = [int(s) for s in cyl.order[i, : k + 1]]
    tail = counts[:, d - (w + 1) :].sum(axis=1)
    return Cluster(
        centre=int(i),
        sites=members,
        days=int(w + 1),
        observed=round(float(tail[members].sum())),
        expected=float(mu[i, k, w]),
        llr=best,
        p_value=(1 + beaten) / (1 + replicates),
        radius_km=float(cyl.radius[i, k]),
        replicates=replicates,
    )


def km_positions(lon: Floats, lat: Floats) -> Floats:
    """Longitude/latitude to a local plane in km (equirectangular; fine for a district)."""
    lat0 = np.deg2rad(float(np.mean(lat)))
    x = np.deg2rad(lon) * 6371.0 * np.cos(lat0)
    y = np.deg2rad(lat) * 6371.0
    return np.stack([x - x.mean(), y - y.mean()], axis=1)
