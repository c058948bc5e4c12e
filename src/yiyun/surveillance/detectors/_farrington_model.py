"""Model fitting and thresholds of the improved Farrington method (see :mod:`.farrington`).

Batch versions of ``algo.farrington.fitGLM.flexible``, ``algo.farrington.glm``
and ``algo.farrington.threshold.{farrington,noufaily}`` of the R package
``surveillance``: every row of the response matrix is one (time point, series)
pair sharing the same design matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt
from scipy import stats

from ._common import BoolArray, FloatArray
from ._glm import GlmFit

ThresholdMethod = Literal["nbPlugin", "muan", "delta"]
PowerTransform = Literal["2/3", "1/2", "none"]
FitFunction = Callable[[FloatArray, FloatArray, "FloatArray | None"], GlmFit]

_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True, slots=True)
class _Model:
    """One fitted Farrington model per batch row (after reweighting)."""

    fit: GlmFit
    has_trend: BoolArray
    phi: FloatArray
    ok: BoolArray
    se_dispersion: FloatArray


def _fit_flexible(
    fit: FitFunction,
    x_trend: FloatArray,
    y: FloatArray,
    use_trend: bool,
    reweight: bool,
    weights_threshold: float,
) -> _Model:
    """R's ``algo.farrington.fitGLM.flexible`` for each row of ``y``."""
    x_plain = np.delete(x_trend, 1, axis=1)
    design = x_trend if use_trend else x_plain
    first = fit(design, y, None)
    if not use_trend:
        first = _splice(
            _empty_like(first, y.shape[0], x_trend.shape[1]), np.arange(y.shape[0]), first
        )
    has_trend = np.full(y.shape[0], use_trend)
    if use_trend and not first.converged.all():
        failed = np.flatnonzero(~first.converged)
        retry = fit(x_plain, y[failed], None)
        first = _splice(first, failed, retry)
        has_trend[failed] = False
    ok = first.converged.copy()
    phi = np.maximum(first.dispersion, 1.0)
    if not reweight:
        return _Model(
            fit=first, has_trend=has_trend, phi=phi, ok=ok, se_dispersion=first.dispersion
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        resid = (
            1.5
            * (y ** (2 / 3) * first.mu ** (-1 / 6) - np.sqrt(first.mu))
            / np.sqrt(phi[:, np.newaxis] * (1.0 - first.hat))
        )
        big = resid > weights_threshold
        inv_sq = np.where(big, resid**-2.0, 1.0)
        gamma = y.shape[1] / inv_sq.sum(axis=1)
        omega = gamma[:, np.newaxis] * inv_sq
    second = _refit_by_design(fit, x_trend, x_plain, y, omega, has_trend)
    phi = np.maximum(second.dispersion, 1.0)
    # R then overwrites the model's working weights with omega, so the dispersion
    # that summary.glm/predict.glm see afterwards (trend p-value, se of the
    # prediction) is sum(omega * ((y - mu) / mu)^2) / df instead of the Pearson one.
    with np.errstate(divide="ignore", invalid="ignore"):
        work_resid = (y - second.mu) / second.mu
        df_rows = y.shape[1] - np.where(has_trend, x_trend.shape[1], x_trend.shape[1] - 1)
        se_dispersion = np.sum(omega * work_resid**2, axis=1) / df_rows
    return _Model(fit=second, has_trend=has_trend, phi=phi, ok=ok, se_dispersion=se_dispersion)


def _refit_by_design(
    fit: FitFunction,
    x_trend: FloatArray,
    x_plain: FloatArray,
    y: FloatArray,
    prior: FloatArray,
    has_trend: BoolArray,
) -> GlmFit:
    """Refit with prior weights, each row with the design (with/without trend) it used."""
    rows_t = np.flatnonzero(has_trend)
    rows_p = np.flatnonzero(~has_trend)
    result: GlmFit | None = None
    for rows, design in ((rows_t, x_trend), (rows_p, x_plain)):
        if rows.size == 0:
            continue
        part = fit(design, y[rows], prior[rows])
        if result is None:
            result = _empty_like(part, y.shape[0], x_trend.shape[1])
        result = _splice(result, rows, part)
    if result is None:
        raise ValueError("no rows to fit")
    return result


def _empty_like(template: GlmFit, n_rows: int, n_coef: int) -> GlmFit:
    """Return a NaN-filled :class:`GlmFit` for ``n_rows`` rows and up to ``n_coef`` coefficients."""
    n_obs = template.mu.shape[1]
    return GlmFit(
        beta=np.full((n_rows, n_coef), np.nan),
        mu=np.full((n_rows, n_obs), np.nan),
        cov_unscaled=np.full((n_rows, n_coef, n_coef), np.nan),
        hat=np.full((n_rows, n_obs), np.nan),
        dispersion=np.full(n_rows, np.nan),
        converged=np.zeros(n_rows, dtype=np.bool_),
        df_resid=template.df_resid,
    )


def _splice(target: GlmFit, rows: npt.NDArray[np.intp], part: GlmFit) -> GlmFit:
    """Copy ``part`` into ``rows`` of ``target``; coefficient arrays are right-aligned.

    A model without trend has one coefficient less; it is stored with a NaN in
    the trend position (column 1) so that both kinds share one array.
    """
    beta = target.beta.copy()
    cov = target.cov_unscaled.copy()
    p_full = beta.shape[1]
    p_part = part.beta.shape[1]
    cols = np.arange(p_full) if p_part == p_full else np.delete(np.arange(p_full), 1)
    beta[np.ix_(rows, cols)] = part.beta
    if p_part != p_full:
        beta[rows, 1] = np.nan
        cov[rows] = np.nan
    cov[np.ix_(rows, cols, cols)] = part.cov_unscaled
    mu, hat = target.mu.copy(), target.hat.copy()
    mu[rows], hat[rows] = part.mu, part.hat
    dispersion, converged = target.dispersion.copy(), target.converged.copy()
    dispersion[rows], converged[rows] = part.dispersion, part.converged
    return GlmFit(
        beta=beta,
        mu=mu,
        cov_unscaled=cov,
        hat=hat,
        dispersion=dispersion,
        converged=converged,
        df_resid=target.df_resid if p_part == p_full else part.df_resid,
    )


def _predict(model: _Model, row: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return link-scale prediction ``eta_0`` and its standard error per batch row."""
    use = np.where(np.isnan(model.fit.beta), 0.0, model.fit.beta)
    cov = np.where(np.isnan(model.fit.cov_unscaled), 0.0, model.fit.cov_unscaled)
    eta0 = use @ row
    var = np.einsum("i,bij,j->b", row, cov, row) * model.se_dispersion
    return eta0, np.sqrt(var)


def _trend_pvalue(model: _Model, n_obs: int) -> FloatArray:
    """Two-sided t-test p-value of the time coefficient (NaN without trend)."""
    df = n_obs - model.fit.beta.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(model.fit.cov_unscaled[:, 1, 1] * model.se_dispersion)
        t = model.fit.beta[:, 1] / se
    return np.asarray(2.0 * stats.t.sf(np.abs(t), df), dtype=np.float64)


def _thresholds(
    method: ThresholdMethod,
    powertrans: PowerTransform,
    eta0: FloatArray,
    se_eta0: FloatArray,
    phi: FloatArray,
    alpha: float,
    y: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return ``(upper, score, expected)`` as R's threshold functions compute them."""
    z = float(stats.norm.ppf(1.0 - alpha))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if method == "delta":
            mu0 = np.maximum(np.exp(eta0), _EPS)
            se_resp = se_eta0 * mu0
            tau = phi + se_resp**2 / mu0
            if powertrans == "none":
                se, exponent = np.sqrt(mu0 * tau), 1.0
            elif powertrans == "1/2":
                se, exponent = np.sqrt(0.25 * tau), 0.5
            else:
                se, exponent = np.sqrt(4 / 9 * mu0 ** (1 / 3) * tau), 2 / 3
            upper = (mu0**exponent + z * se) ** (1 / exponent)
            return upper, (y - mu0) / (upper - mu0), mu0
        if method == "nbPlugin":
            mu_q = np.exp(eta0)
        else:
            mu_q = np.exp(stats.norm.ppf(1.0 - alpha, loc=eta0, scale=se_eta0))
        over = phi > 1.0
        upper = np.full(eta0.shape, np.nan)
        finite = np.isfinite(mu_q)
        nb = finite & over
        po = finite & ~over
        upper[nb] = stats.nbinom.ppf(1.0 - alpha, mu_q[nb] / (phi[nb] - 1.0), 1.0 / phi[nb])
        upper[po] = stats.poisson.ppf(1.0 - alpha, mu_q[po])
        return upper, (y - eta0) / (upper - eta0), np.exp(eta0)


def evaluate(
    fit: FitFunction,
    x_trend: FloatArray,
    row: FloatArray,
    y_ref: FloatArray,
    y_now: FloatArray,
    trend: bool,
    reweight: bool,
    weights_threshold: float,
    b: int,
    p_threshold_trend: float,
    threshold_method: ThresholdMethod,
    powertrans: PowerTransform,
    alpha: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, BoolArray]:
    """R's ``algo.farrington.glm`` plus threshold for a batch; NaN where no model converged."""
    model = _fit_flexible(fit, x_trend, y_ref, trend, reweight, weights_threshold)
    kept = model.has_trend.copy()
    if kept.any():
        eta0, _se = _predict(model, row)
        pvalue = _trend_pvalue(model, y_ref.shape[1])
        fitted_now = np.maximum(np.exp(eta0), _EPS)
        with np.errstate(invalid="ignore"):
            keep = (b >= 3) & (pvalue < p_threshold_trend) & (fitted_now <= y_ref.max(axis=1))
        drop = np.flatnonzero(model.has_trend & ~keep)
        kept = model.has_trend & keep
        if drop.size:
            plain = _fit_flexible(fit, x_trend, y_ref[drop], False, reweight, weights_threshold)
            model = _Model(
                fit=_splice(model.fit, drop, plain.fit),
                has_trend=kept,
                phi=_put(model.phi, drop, plain.phi),
                ok=_put(model.ok, drop, plain.ok),
                se_dispersion=_put(model.se_dispersion, drop, plain.se_dispersion),
            )
    eta0, se_eta0 = _predict(model, row)
    upper, score, expected = _thresholds(
        threshold_method, powertrans, eta0, se_eta0, model.phi, alpha, y_now
    )
    bad = ~model.ok
    for arr in (upper, score, expected):
        arr[bad] = np.nan
    phi = np.where(bad, np.nan, model.phi)
    return upper, score, expected, phi, kept & model.ok


_A = TypeVar("_A", bound=np.generic)


def _put(
    values: npt.NDArray[_A], rows: npt.NDArray[np.intp], new: npt.NDArray[_A]
) -> npt.NDArray[_A]:
    """Return a copy of ``values`` with ``rows`` replaced by ``new``."""
    result = values.copy()
    result[rows] = new
    return result
