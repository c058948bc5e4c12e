"""Quasi-Poisson log-linear GLMs fitted for many response vectors at once.

The Farrington method fits the same design matrix to thousands of response
vectors (one per series and time point). :func:`fit_quasipoisson` runs the
iteratively reweighted least squares of R's ``glm.fit`` (McCullagh & Nelder,
1989, section 2.5) for all of them in lock-step: same starting values
(``mu = y + 0.1``), same clamping of ``mu`` at machine epsilon, same
convergence rule (``|dev - dev_old| / (|dev| + 0.1) < 1e-8``, at most 25
iterations), and -- like R's ``summary.glm`` -- the covariance, hat values and
Pearson dispersion are taken from the working weights of the last iteration.
Each normal-equation system is equilibrated (Jacobi scaling) before solving.

:func:`fit_quasipoisson_statsmodels` produces the same quantities one response
at a time with ``statsmodels`` (Poisson family, ``scale="X2"``, i.e. the
Pearson chi-squared over the residual degrees of freedom); it is slower and
serves as an independent cross-check.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._common import BoolArray, FloatArray

_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True, slots=True)
class GlmFit:
    """Fitted quasi-Poisson GLMs for ``B`` responses of length ``n`` with ``p`` coefficients.

    ``beta (B, p)``; ``mu (B, n)`` fitted means; ``cov_unscaled (B, p, p)``
    = ``(X' W X)^-1``; ``hat (B, n)`` leverages; ``dispersion (B,)`` Pearson
    estimate (not floored at 1); ``converged (B,)``; ``df_resid`` = ``n - p``.
    """

    beta: FloatArray
    mu: FloatArray
    cov_unscaled: FloatArray
    hat: FloatArray
    dispersion: FloatArray
    converged: BoolArray
    df_resid: int


def _deviance_constant(y: FloatArray) -> FloatArray:
    """Return ``y log y - y`` (0 where ``y = 0``), the part of the deviance not involving mu."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, y * np.log(y), 0.0) - y


def _poisson_deviance(
    y: FloatArray, mu: FloatArray, prior: FloatArray | None, constant: FloatArray
) -> FloatArray:
    """Return the (prior-weighted) Poisson deviance ``2 sum w (y log(y/mu) - (y - mu))`` per row."""
    unit = np.log(mu)
    unit *= y
    np.subtract(constant, unit, out=unit)
    unit += mu
    if prior is not None:
        unit *= prior
    return np.asarray(2.0 * unit.sum(axis=1), dtype=np.float64)


def _solve_normal(a: FloatArray, rhs: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Solve ``a @ beta = rhs`` batch-wise; return ``(beta, inverse of a)`` (Jacobi-scaled)."""
    scale = 1.0 / np.sqrt(np.diagonal(a, axis1=1, axis2=2))
    scaled = a * scale[:, :, np.newaxis] * scale[:, np.newaxis, :]
    eye = np.broadcast_to(np.eye(a.shape[1]), a.shape)
    inv_scaled = np.linalg.solve(scaled, eye)
    inverse = inv_scaled * scale[:, :, np.newaxis] * scale[:, np.newaxis, :]
    beta = np.einsum("bij,bj->bi", inverse, rhs)
    return beta, inverse


def fit_quasipoisson(
    x: FloatArray,
    y: FloatArray,
    prior: FloatArray | None = None,
    *,
    max_iter: int = 25,
    epsilon: float = 1e-8,
) -> GlmFit:
    """Fit ``log E[y] = x @ beta`` by IRLS for every row of ``y`` (mirrors R's ``glm.fit``).

    ``x``: design ``(n, p)`` shared by all rows; ``y``: responses ``(B, n)``;
    ``prior``: positive prior weights ``(B, n)`` (R's ``weights``), ones if
    ``None``; ``max_iter``/``epsilon``: R's ``glm.control`` defaults.
    """
    n_rows, n_obs = y.shape
    n_coef = x.shape[1]
    # X'WX = W @ (x_i x_j) products; many products coincide (dummies), so only the
    # distinct columns are multiplied and then scattered back.
    outer = (x[:, :, np.newaxis] * x[:, np.newaxis, :]).reshape(n_obs, n_coef * n_coef)
    distinct, where = np.unique(outer, axis=1, return_inverse=True)
    where = where.reshape(-1)
    constant = _deviance_constant(y)

    eta = np.log(y + 0.1)
    mu = np.maximum(np.exp(eta), _EPS)
    dev_old = _poisson_deviance(y, mu, prior, constant)
    beta = np.zeros((n_rows, n_coef))
    inverse = np.zeros((n_rows, n_coef, n_coef))
    work = np.zeros_like(y)
    converged = np.zeros(n_rows, dtype=np.bool_)
    active = np.arange(n_rows)
    for _ in range(max_iter):
        rows: slice | npt.NDArray[np.intp] = slice(None) if active.size == n_rows else active
        eta_a, mu_a, y_a = eta[rows], mu[rows], y[rows]
        prior_a = None if prior is None else prior[rows]
        # for the log link d mu / d eta = mu (both clamped at epsilon as in R)
        z = y_a - mu_a
        z /= mu_a
        z += eta_a
        w = mu_a * mu_a
        w /= mu_a
        if prior_a is not None:
            w = prior_a * w
        a = (w @ distinct)[:, where].reshape(-1, n_coef, n_coef)
        z *= w
        rhs = z @ x
        beta_a, inverse_a = _solve_normal(a, rhs)
        eta_new = beta_a @ x.T
        with np.errstate(over="ignore"):
            mu_new = np.exp(eta_new)
        np.maximum(mu_new, _EPS, out=mu_new)
        dev = _poisson_deviance(y_a, mu_new, prior_a, constant[rows])
        beta[rows] = beta_a
        inverse[rows] = inverse_a
        work[rows] = w
        eta[rows] = eta_new
        mu[rows] = mu_new
        done = np.abs(dev - dev_old[rows]) / (np.abs(dev) + 0.1) < epsilon
        dev_old[rows] = dev
        converged[active[done]] = True
        active = active[~done]
        if active.size == 0:
            break

    df_resid = n_obs - n_coef
    with np.errstate(divide="ignore", invalid="ignore"):
        resid = (y - mu) / mu
        dispersion = np.sum(work * resid * resid, axis=1) / df_resid
    collapse = np.zeros((n_coef * n_coef, distinct.shape[1]))
    collapse[np.arange(n_coef * n_coef), where] = 1.0
    leverage = work * ((inverse.reshape(n_rows, -1) @ collapse) @ distinct.T)
    return GlmFit(
        beta=beta,
        mu=mu,
        cov_unscaled=inverse,
        hat=leverage,
        dispersion=dispersion,
        converged=converged,
        df_resid=df_resid,
    )


def fit_quasipoisson_statsmodels(
    x: FloatArray,
    y: FloatArray,
    prior: FloatArray | None = None,
    *,
    max_iter: int = 25,
    epsilon: float = 1e-8,
) -> GlmFit:
    """Same contract as :func:`fit_quasipoisson`, one ``statsmodels`` GLM per row."""
    import statsmodels.api as sm

    n_rows, n_obs = y.shape
    n_coef = x.shape[1]
    beta = np.zeros((n_rows, n_coef))
    mu = np.zeros_like(y)
    cov = np.zeros((n_rows, n_coef, n_coef))
    hat = np.zeros_like(y)
    dispersion = np.zeros(n_rows)
    converged = np.zeros(n_rows, dtype=np.bool_)
    family = sm.families.Poisson()
    for row in range(n_rows):
        var_weights: npt.NDArray[np.float64] | None = None if prior is None else prior[row]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = sm.GLM(y[row], x, family=family, var_weights=var_weights)
            res = model.fit(scale="X2", maxiter=max_iter, tol=epsilon)
        beta[row] = res.params
        mu[row] = res.fittedvalues
        cov[row] = res.normalized_cov_params
        work = np.asarray(model.weights, dtype=np.float64)
        hat[row] = work * np.einsum("ij,jk,ik->i", x, cov[row], x)
        dispersion[row] = float(res.scale)
        converged[row] = bool(res.converged)
    return GlmFit(
        beta=beta,
        mu=mu,
        cov_unscaled=cov,
        hat=hat,
        dispersion=dispersion,
        converged=converged,
        df_resid=n_obs - n_coef,
    )
