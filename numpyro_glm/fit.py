r"""``fit``: maximum-likelihood GLMs with R's numbers, jittable, vmappable, differentiable.

This is the public boundary: with concrete arrays it validates the inputs (raising a
``ValueError`` that names the argument and the first bad rows), detects aliased
columns as R does, and warns about non-convergence and separation. Under a user's
``jit`` or ``vmap`` nothing raises or warns: ``status`` carries the outcome. Inputs
sharded over several devices or processes are checked where they lie (see
:mod:`numpyro_glm.sharding`), never gathered onto the host.

Conventions (R's ``glm`` / ``summary.glm`` / ``logLik.glm``; statsmodels differs in
the marked places):

* dispersion φ̂: 1 for Poisson, binomial, Bernoulli and negative binomial; else
  Pearson χ²/df_resid (``dispersion="pearson"``, the default), or
  deviance/df_resid (``"deviance"``), or a given float.
* loglik is evaluated at the ML dispersion: deviance/n for the Gaussian,
  deviance/Σw for the Gamma, inverse Gaussian and Tweedie (statsmodels uses the
  Pearson φ̂ except for the Gaussian-identity model, so its ``llf``/``aic`` differ).
* aic = −2 loglik + 2k with k = rank + [φ estimated] + [α estimated].
* null deviance: the intercept-only model when X has a constant column (refitted
  with the offset when there is one), else μ = g⁻¹(offset).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from . import irls
from . import sharding as _sharding
from .families import Binomial, Family, Gaussian, NegativeBinomial
from .irls import Status
from .results import GLMFit

__all__ = ["fit"]

_MAX_ROWS_SHOWN = 5
_ALIAS_TOL = 1e-7  # R's qr(tol = 1e-7)
# A copy of X this large is split over threads (NumPy releases the GIL while copying).
_PARALLEL_COPY_BYTES = 2**23
_copy_pool: ThreadPoolExecutor | None = None


def _forget_copy_pool() -> None:
    global _copy_pool
    _copy_pool = None  # a forked child has none of the parent's threads: make new ones


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_copy_pool)


# --------------------------------------------------------------------------- validation


def _is_traced(*arrays) -> bool:
    return any(isinstance(a, jax.core.Tracer) for a in arrays if a is not None)


def _bad_rows_message(argument: str, bad: np.ndarray, requirement: str) -> str:
    rows = np.flatnonzero(bad)
    more = f" (and {len(rows) - _MAX_ROWS_SHOWN} more)" if len(rows) > _MAX_ROWS_SHOWN else ""
    return f"{argument} {requirement}; {len(rows)} bad row(s), first at rows {rows[:_MAX_ROWS_SHOWN].tolist()}{more}"


def _check_rows(argument: str, bad: np.ndarray, requirement: str):
    if np.any(bad):
        raise ValueError(_bad_rows_message(argument, bad, requirement))


def _vector(argument: str, value, n: int) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = np.full(n, float(array))
    if array.shape != (n,):
        raise ValueError(f"{argument} must have shape ({n},) like y, got {array.shape}")
    return array


def _host_matrix(X) -> np.ndarray:
    """X as a C-contiguous float NumPy array (float32 stays float32) on a 64-byte boundary: the layout that
    ``jax.device_put(..., may_alias=True)`` hands to XLA:CPU without a copy (a copy of
    a 10⁶ × 20 X costs as much as an IRLS iteration). Copies only when X is not
    already so (large NumPy arrays usually sit 16 bytes past a page boundary)."""
    X = np.asarray(X)
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    if X.dtype == dtype and X.flags.c_contiguous and X.ctypes.data % 64 == 0:
        return X
    buffer = np.empty(X.size + 64 // dtype.itemsize, dtype)
    start = (-buffer.ctypes.data % 64) // dtype.itemsize
    aligned = buffer[start:start + X.size].reshape(X.shape)
    _parallel_copy(aligned, X)
    return aligned


def _parallel_copy(destination: np.ndarray, source: np.ndarray) -> None:
    """``np.copyto(destination, source, casting="unsafe")`` in row blocks over a few
    threads when large: the copy is bound by page faults on the new buffer and
    memory bandwidth, which one core does not saturate (n = 1e6, p = 20: ~50 ms on
    one thread, ~22 ms in four blocks on two cores)."""
    global _copy_pool
    threads = min(4, os.cpu_count() or 1)
    if destination.nbytes < _PARALLEL_COPY_BYTES or threads == 1 or destination.ndim != 2:
        np.copyto(destination, source, casting="unsafe")
        return
    if _copy_pool is None:
        _copy_pool = ThreadPoolExecutor(threads, thread_name_prefix="numpyro_glm_copy")
    cuts = np.linspace(0, destination.shape[0], 5).astype(int)
    blocks = [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:])]
    for done in [_copy_pool.submit(np.copyto, destination[rows], source[rows], casting="unsafe") for rows in blocks]:
        done.result()


def _check_shapes(X, y) -> tuple[int, int]:
    """X must be (n, p) with n, p ≥ 1 and y (n,); returns (n, p). (Host and sharded inputs.)"""
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D design matrix (n, p), got shape {X.shape}")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D with one entry per row of X, got shape {y.shape}")
    n, p = X.shape
    if y.shape[0] != n:
        raise ValueError(f"X has {n} rows but y has {y.shape[0]}")
    if n == 0 or p == 0:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    return n, p


def _validate(X, y, family, weights, offset, exposure, trials, init):
    """Check everything but X's values (see :func:`_check_design`); returns the active rows."""
    y = np.asarray(y, dtype=float)
    n, p = _check_shapes(X, y)
    w = _vector("weights", weights, n)
    if w is not None:
        _check_rows("weights", ~np.isfinite(w), "must be finite")
        _check_rows("weights", w < 0, "must be non-negative")
        if not np.any(w > 0):
            raise ValueError("weights are all zero: nothing to fit")
    o = _vector("offset", offset, n)
    if o is not None:
        _check_rows("offset", ~np.isfinite(o), "must be finite")
    e = _vector("exposure", exposure, n)
    if e is not None:
        if family.link.name != "log":
            raise ValueError(f"exposure needs the log link (it enters as log(exposure) in the offset); "
                             f"the {family.name} family here has link {family.link.name!r}: use offset= instead")
        _check_rows("exposure", ~np.isfinite(e) | (e <= 0), "must be positive and finite")
    t = _vector("trials", trials, n)
    if isinstance(family, Binomial):
        if t is None:
            raise ValueError("the binomial family needs trials= (the number of trials of each row)")
    elif t is not None:
        raise ValueError(f"trials is only used by the binomial family, not by {family.name}")
    # Rows with zero weight are ignored, so their response is not checked (as R).
    active = np.ones(n, bool) if w is None else w > 0
    family.validate_response(y[active], trials=None if t is None else t[active])
    _check_init(init, p)
    return active


def _check_init(init, p: int):
    """``init`` (None, or finite starting coefficients of shape (p,)) as float NumPy, or None."""
    if init is None:
        return None
    init = np.asarray(init, dtype=float)
    if init.shape != (p,):
        raise ValueError(f"init must have shape ({p},) (one value per column of X), got {init.shape}")
    if not np.all(np.isfinite(init)):
        raise ValueError("init must be finite")
    return init


def _check_design(X: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Raise if X has a NaN or inf; return the aliased columns (see :func:`_aliased_columns`).

    One BLAS pass over the active rows: their Gram matrix serves both checks (a NaN or
    inf anywhere in a column makes its diagonal entry non-finite). Only when it is
    not finite are the rows searched, to name them.
    """
    all_active = bool(active.all())
    rows = X if all_active else X[active]
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is handled below
        gram = rows.T @ rows
    finite = np.all(np.isfinite(np.diagonal(gram))) and (all_active or np.all(np.isfinite(X[~active])))
    if not finite:
        _check_rows("X", ~np.all(np.isfinite(X), axis=1), "must be finite (no NaN or inf)")
        scale = np.max(np.abs(rows), axis=0)  # finite, but squares overflow: rescale columns
        scaled = rows / np.where(scale > 0, scale, 1.0)
        gram = scaled.T @ scaled
    return _aliased_columns(gram)


def _needs_design_check(gram, spread) -> bool:
    """Whether X's own check (:func:`_check_design`) could find what the fit's XᵀWX does not show.

    ``gram`` is XᵀWX at β̂ with the IRLS weights W over the rows of positive prior
    weight, and ``spread`` = max W / min W over those rows. A column's residual ratio
    (what is left of it after projecting out the earlier columns, relative to its
    norm) in the W-norm is at most √spread times its ratio in the plain norm. So if
    no column of XᵀWX falls below 10·1e-7·√spread, none of XᵀX falls below R's 1e-7
    and X has no aliased column; and a NaN or inf anywhere in X makes XᵀWX
    non-finite (0·NaN is NaN). Only otherwise, or when the bound is not small (10√ε
    of the Gram's precision), must X itself be checked, which costs a pass of BLAS
    over X (~55 ms at n = 1e6, p = 20) that a full-rank design no longer pays.
    """
    gram = np.asarray(gram)
    rounding = 10 * np.sqrt(np.finfo(gram.dtype).eps)
    gram, spread = gram.astype(float), float(spread)
    if not (np.all(np.isfinite(gram)) and np.isfinite(spread)):
        return True
    tol = max(10 * _ALIAS_TOL * np.sqrt(spread), rounding)
    return bool(tol >= 1 or _aliased_columns(gram, tol).any())


def _aliased_columns(gram: np.ndarray, tol: float = _ALIAS_TOL) -> np.ndarray:
    """Columns that are (numerically) linear combinations of earlier ones.

    The rule of R's ``qr(..., tol = 1e-7)`` (LINPACK dqrdc2): a column is aliased
    when what is left of it after projecting out the kept columns is below ``tol``
    of its original norm; later columns are the ones dropped. Computed from the
    p × p Gram matrix ``gram`` = XᵀX by a Cholesky that skips aliased columns: the
    squared residual norm of column j is G_jj − Σ_k L_jk².
    """
    p = gram.shape[0]
    norms2 = np.diag(gram).copy()
    factor = np.zeros((p, p))
    aliased = np.zeros(p, bool)
    for j in range(p):  # a loop over columns (p), not over data
        kept = np.flatnonzero(~aliased[:j])
        residual2 = norms2[j] - factor[j, kept] @ factor[j, kept]
        if norms2[j] == 0 or residual2 <= (tol**2) * norms2[j]:
            aliased[j] = True
            continue
        factor[j, j] = np.sqrt(residual2)
        later = np.arange(j + 1, p)
        factor[later, j] = (gram[later, j] - factor[np.ix_(later, kept)] @ factor[j, kept]) / factor[j, j]
    return aliased


# --------------------------------------------------------------------------- the fit


def _has_intercept(X):
    """Whether a column of X is constant and non-zero (works on traced X too).

    Columns equal to row 0 in the first 16 rows are candidates, checked in full one
    at a time until one is constant: usually one strided read of the first
    candidate, instead of comparing all of X (n = 1e6, p = 20: 11 against 28 ms).
    """
    n, p = X.shape
    candidate = jnp.all(X[: min(n, 16)] == X[:1], axis=0) & (X[0] != 0)
    columns = jnp.arange(p)

    def remaining(j):
        return candidate & (columns >= j)

    def check_next(carry):
        j, _ = carry
        k = jnp.argmax(remaining(j))
        column = jax.lax.dynamic_index_in_dim(X, k, axis=1, keepdims=False)
        return k + 1, jnp.all(column == column[0])

    def keep_looking(carry):
        j, found = carry
        return ~found & jnp.any(remaining(j))

    _, found = jax.lax.while_loop(keep_looking, check_next, (jnp.asarray(0), jnp.asarray(False)))
    return found


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def _already_computed(function, value, *args):
    """``function(*args)`` when the solver has already computed it as ``value``.

    Returns ``value`` without recomputing it (at n = 1e6 a pass over X costs 10-30
    ms); derivatives are ``function``'s with respect to ``args``.
    """
    return value


@_already_computed.defjvp
def _already_computed_jvp(function, primals, tangents):
    value, *args = primals
    _, tangent = jax.jvp(function, tuple(args), tuple(tangents[1:]))
    return value, tangent


def _null_deviance(X, y, family, weights, offset, trials, tol, max_iter, has_offset, eta):
    y_mean, w = irls._mean_scale(family, y, weights, trials)
    active = w > 0
    if has_offset:
        stop = jax.lax.stop_gradient
        # Start from the average of the full fit's η − offset: valid wherever the
        # full fit is, even for links whose default start is not (NB with cloglog).
        start = jnp.sum(jnp.where(active, w * (eta - offset), 0.0)) / jnp.sum(jnp.where(active, w, 0.0))
        intercept = stop(irls.solve_intercept(stop(y_mean), family, stop(w), stop(offset), stop(start), tol=tol,
                                              max_iter=max_iter))
        # Differentiate the null fit by its stationarity, never through the loop: one
        # Newton step from the solution leaves its value unchanged (the score is 0
        # there) and carries exactly the implicit-function derivative. (No custom_jvp:
        # the family may hold a traced α here.)
        d1, d2 = irls._row_derivatives(family, intercept + offset, y_mean, w)
        intercept = intercept - jnp.sum(d1) / jnp.sum(d2)
        mu_intercept = family.link.inverse(intercept + offset)
    else:
        # The intercept-only MLE is the weighted mean, whatever the link.
        mean = jnp.sum(jnp.where(active, w * y_mean, 0.0)) / jnp.sum(jnp.where(active, w, 0.0))
        mu_intercept = jnp.full_like(y_mean, mean)
    mu_offset_only = family.link.inverse(offset)
    mu_null = jnp.where(_has_intercept(X), mu_intercept, mu_offset_only)
    return irls._deviance(family, y_mean, mu_null, w)


def _ml_dispersion(family: Family, deviance, weights, n_active):
    """The dispersion at which R evaluates the log-likelihood."""
    if not family.has_free_dispersion:
        return jnp.ones_like(deviance)
    if isinstance(family, Gaussian) or getattr(family, "power", None) == 0:
        return deviance / n_active
    return deviance / jnp.sum(weights)


@partial(jax.jit, static_argnames=("family", "tol", "max_iter", "dispersion_kind", "coef_names", "sharded"))
def _fit_arrays(X, y, weights, offset, trials, init, dispersion_value, *, family, tol, max_iter, dispersion_kind,
                coef_names, sharded=False):
    """The traceable part of ``fit``: arrays in, a GLMFit out (jitted as a whole).

    ``sharded``: X's rows lie on several devices. XᵀWX then takes the layout that
    partitions (``irls._weighted_products``), and there is no warm start (a strided
    subsample of X would cut across shards). Also returns ``(XᵀWX, spread)`` at β̂
    for :func:`_needs_design_check`.
    """
    dtype = X.dtype
    n, p = X.shape
    has_offset = offset is not None
    weights = jnp.ones(n, dtype) if weights is None else jnp.asarray(weights, dtype)
    offset = jnp.zeros(n, dtype) if offset is None else jnp.asarray(offset, dtype)
    y = jnp.asarray(y, dtype)
    if isinstance(family, Binomial):
        trials = jnp.asarray(trials, dtype) * jnp.ones(n, dtype)
    stop = jax.lax.stop_gradient

    alpha = alpha_se = fixed_gram = gram_at_start = None
    if isinstance(family, NegativeBinomial) and family.estimates_alpha:
        result, alpha_hat, joint_hessian = irls.solve_negative_binomial(
            stop(X), stop(y), family, stop(weights), stop(offset), init, tol=tol, max_iter=max_iter
        )
        params = jnp.concatenate([result.coef, jnp.log(alpha_hat)[None]])
        params = irls.implicit_solution_negative_binomial(family, params, X, y, weights, offset)
        coef, alpha = params[:-1], jnp.exp(params[-1])
        fitted_family = family.replace(alpha=alpha)
        # SE of α from the joint observed information in (β, log α), by the delta
        # method (as statsmodels' discrete NB2). Not differentiated (see GLMFit).
        unit = jnp.zeros(params.shape[0], dtype).at[-1].set(1.0)
        log_alpha_var = -jnp.linalg.solve(joint_hessian, unit)[-1]
        alpha_se = stop(alpha) * jnp.sqrt(log_alpha_var)
    else:
        y_mean, w_eff = irls._mean_scale(family, y, weights, trials)
        fixed_w = irls.constant_weights(family, stop(w_eff))
        # Formed here when it stays fixed, to serve the IRLS and the covariance.
        fixed_gram = None if fixed_w is None else irls._weighted_gram(stop(X), fixed_w, sharded)
        result = irls.solve(stop(X), stop(y), family, stop(weights), stop(offset), stop(trials), init,
                            tol=tol, max_iter=max_iter, fixed_gram=fixed_gram, warm_start=not sharded,
                            partitioned=sharded)
        if irls.finishes_with_newton_correction(family, X.shape, init, warm_start=not sharded):
            # Two full iterations from the warm start meet R's rule with β̂ ~1e-9 from
            # the MLE; one Newton step, from the XᵀWX the covariance needs anyway,
            # makes it ~1e-15 (see irls.newton_correction).
            result, gram_at_start = irls.newton_correction(family, stop(X), stop(y_mean), stop(w_eff),
                                                           stop(offset), result, sharded)
        fitted_family = family
        coef = irls.implicit_solution(family, result.coef, X, y_mean, w_eff, offset)

    y_mean, w_eff = irls._mean_scale(fitted_family, y, weights, trials)
    active = w_eff > 0
    n_active = jnp.sum(active).astype(dtype)
    if alpha is None:  # the solver's η̂, μ̂ and deviance, differentiable through coef
        eta = _already_computed(lambda c, X_, o: X_ @ c + o, result.eta, coef, X, offset)
        mu = _already_computed(fitted_family.link.inverse, result.mu, eta)
        deviance = _already_computed(partial(irls._deviance, fitted_family), result.deviance, y_mean, mu, w_eff)
    else:
        eta = X @ coef + offset
        mu = fitted_family.link.inverse(eta)
        deviance = irls._deviance(fitted_family, y_mean, mu, w_eff)
    pearson = jnp.sum(jnp.where(active, w_eff * jnp.square(y_mean - mu) / fitted_family.variance(mu), 0.0))
    df_resid = n_active - p
    intercept = _has_intercept(X).astype(dtype)
    df_model = p - intercept

    if dispersion_kind == "pearson":
        phi = pearson / df_resid if family.has_free_dispersion else jnp.ones((), dtype)
    elif dispersion_kind == "deviance":
        phi = deviance / df_resid if family.has_free_dispersion else jnp.ones((), dtype)
    else:
        phi = jnp.asarray(dispersion_value, dtype)

    w_irls = irls.working_weights(fitted_family, eta, mu, w_eff)
    if fixed_gram is not None:  # W does not depend on μ̂: the IRLS's XᵀWX
        gram = _already_computed(partial(irls._weighted_gram, partitioned=sharded), fixed_gram, X, w_irls)
    elif gram_at_start is not None:
        # XᵀWX one Newton step before β̂: its standard errors differ by ~1e-9 (relative)
        # from those at β̂ (derivatives are taken at β̂).
        gram = _already_computed(partial(irls._weighted_gram, partitioned=sharded), gram_at_start, X, w_irls)
    else:
        gram = irls._weighted_gram(X, w_irls, sharded)
    cov = phi * irls._cholesky_solve(gram, jnp.eye(p, dtype=dtype))
    se = jnp.sqrt(jnp.diagonal(cov))

    phi_ml = _ml_dispersion(fitted_family, deviance, jnp.where(active, weights, 0.0), n_active)
    try:
        log_prob = fitted_family.log_prob(y, mu, phi_ml, weights=weights, trials=trials)
    except NotImplementedError:  # e.g. Tweedie with p > 2, p != 3: no density (R's AIC is NA)
        log_prob = jnp.full_like(mu, jnp.nan)
    loglik = jnp.sum(jnp.where(active, log_prob, 0.0))
    k = p + int(family.has_free_dispersion) + int(alpha is not None)
    aic = -2.0 * loglik + 2.0 * k
    bic = -2.0 * loglik + jnp.log(n_active) * k
    null_deviance = _null_deviance(X, y, fitted_family, weights, offset, trials, tol, max_iter, has_offset, eta)

    status = result.status
    glm_fit = GLMFit(
        coef=coef, cov=cov, se=se, dispersion=phi, deviance=deviance, null_deviance=null_deviance,
        pearson_chi2=pearson, loglik=loglik, aic=aic, bic=bic, df_resid=df_resid, df_model=df_model,
        n_iter=result.n_iter, converged=status == Status.CONVERGED, status=status, eta=eta, mu=mu,
        alpha=alpha, alpha_se=alpha_se, family=family, coef_names=coef_names,
    )
    # For fit's check of X after the fit (see _needs_design_check).
    prior = weights > 0
    spread = jnp.max(jnp.where(prior, w_irls, 0.0)) / jnp.min(jnp.where(prior, w_irls, jnp.inf))
    return glm_fit, (stop(gram), stop(spread))


def _expand_aliased(fit: GLMFit, aliased: np.ndarray) -> GLMFit:
    """Put NaN back in the places of aliased columns (coef, se, cov), as R's NA."""
    p = aliased.size
    keep = np.flatnonzero(~aliased)
    dtype = fit.coef.dtype
    coef = jnp.full((p,), jnp.nan, dtype).at[keep].set(fit.coef)
    se = jnp.full((p,), jnp.nan, dtype).at[keep].set(fit.se)
    cov = jnp.full((p, p), jnp.nan, dtype).at[np.ix_(keep, keep)].set(fit.cov)
    return dataclasses.replace(fit, coef=coef, se=se, cov=cov)


def fit(
    X,
    y,
    family: Family | None = None,
    *,
    weights=None,
    offset=None,
    exposure=None,
    trials=None,
    dispersion=None,
    tol: float = 1e-8,
    max_iter: int = 100,
    init=None,
    coef_names=None,
) -> GLMFit:
    """Fit a generalized linear model by maximum likelihood (IRLS, as R's ``glm``).

    Use it for point estimates, standard errors and tests; to start NUTS from the
    MLE; or inside ``jax.grad``/``jax.vmap`` (derivatives come from the implicit
    function theorem, so they are exact for every link).

    Args:
        X: design matrix, shape (n, p). No intercept is added: include a column of ones.
        y: response, shape (n,) (success counts for :class:`~numpyro_glm.Binomial`).
        family: a :class:`~numpyro_glm.families.Family` (default Gaussian()).
        weights: prior weights, shape (n,) (R's ``weights``, statsmodels'
            ``var_weights``); rows with weight 0 are ignored.
        offset: shape (n,), added to the linear predictor.
        exposure: shape (n,), log link only: adds log(exposure) to the offset.
        trials: binomial trials per row, shape (n,).
        dispersion: None or "pearson" (R's default), "deviance", or a float.
        tol: convergence tolerance on the relative change of the deviance.
        max_iter: most IRLS iterations.
        init: starting coefficients, shape (p,).
        coef_names: optional names, carried into ``summary()``.

    Returns:
        A :class:`~numpyro_glm.results.GLMFit`.

    Raises:
        ValueError: with concrete arrays, for mismatched shapes, non-finite values,
            a response outside the family's support, negative weights, a
            non-positive exposure or an exposure with a non-log link.

    Example:
        >>> import numpy as np, numpyro_glm as glm
        >>> X = np.column_stack([np.ones(6), np.arange(6.0)])
        >>> y = np.array([1.0, 0, 2, 3, 2, 5])
        >>> result = glm.fit(X, y, glm.Poisson())
        >>> bool(result.converged), result.coef.shape
        (True, (2,))
    """
    family = Gaussian() if family is None else family
    if not isinstance(family, Family):
        raise ValueError(f"family must be a numpyro_glm Family (e.g. numpyro_glm.Poisson()), got {family!r}")
    if isinstance(dispersion, str) and dispersion not in ("pearson", "deviance"):
        raise ValueError(f"dispersion must be None, 'pearson', 'deviance' or a float, got {dispersion!r}")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    if coef_names is not None:
        coef_names = tuple(str(name) for name in coef_names)
    if hasattr(X, "columns") and coef_names is None:  # a DataFrame
        coef_names = tuple(str(c) for c in X.columns)

    traced = _is_traced(X, y, weights, offset, exposure, trials, init)
    aliased = None
    check_after_fit = None  # (X, active rows) to check after the fit, for a local X
    distributed = not traced and _sharding.is_distributed(X, y, weights, offset, exposure, trials)
    if distributed:
        # The same checks as below, as reductions on the devices that hold the rows.
        if not isinstance(X, jax.Array):
            X = _host_matrix(X)
        if not isinstance(y, jax.Array):
            y = np.asarray(y, dtype=float)
        _sharding.validate_on_device(X, y, family, weights, offset, exposure, trials, init)
        if coef_names is not None and len(coef_names) != X.shape[1]:
            raise ValueError(f"coef_names has {len(coef_names)} names for {X.shape[1]} columns of X")
        aliased = _aliased_columns(*_sharding.design_gram_on_device(X, weights))
        if not aliased.any():
            aliased = None
    elif not traced:
        if not isinstance(X, jax.Array):
            X = _host_matrix(X)
        active = _validate(X, y, family, weights, offset, exposure, trials, init)
        if coef_names is not None and len(coef_names) != np.shape(X)[1]:
            raise ValueError(f"coef_names has {len(coef_names)} names for {np.shape(X)[1]} columns of X")
        # X's values (finite, no aliased columns) are checked after the fit, from its
        # XᵀWX when that suffices (see _needs_design_check).
        check_after_fit = (X, active)
        if isinstance(X, np.ndarray):
            # No copy: fit returns only after the computation has finished (it reads
            # the status), so the device array never outlives this call.
            X = jax.device_put(X, may_alias=True)

    X = jnp.asarray(X)
    if not jnp.issubdtype(X.dtype, jnp.inexact):
        X = X.astype(jnp.result_type(float))
    if exposure is not None:
        log_exposure = jnp.log(jnp.asarray(exposure, X.dtype))
        offset = log_exposure if offset is None else jnp.asarray(offset, X.dtype) + log_exposure

    if dispersion is None or isinstance(dispersion, str):
        kind, value = dispersion or "pearson", None
    else:
        kind, value = "given", dispersion

    def fit_columns(aliased):
        X_fit, init_fit = X, init
        if aliased is not None:
            X_fit = X[:, ~aliased]
            init_fit = None if init is None else jnp.asarray(init)[~aliased]
        result, screen = _fit_arrays(X_fit, y, weights, offset, trials, init_fit, value, family=family,
                                     tol=float(tol), max_iter=int(max_iter), dispersion_kind=kind,
                                     coef_names=coef_names, sharded=distributed)
        return result if aliased is None else _expand_aliased(result, aliased), screen

    result, screen = fit_columns(aliased)
    if check_after_fit is not None and _needs_design_check(*screen):
        # Raises for a NaN or inf in X; a rank-deficient X is fitted again without
        # its aliased columns (the first fit, on a singular design, is discarded).
        X_host, active = check_after_fit
        aliased = _check_design(np.asarray(X_host, float), active)
        if aliased.any():
            result, _ = fit_columns(aliased)
        else:
            aliased = None

    if not _is_traced(result.status):
        _warn(result, aliased, coef_names)
    return result


def _warn(result: GLMFit, aliased, coef_names):
    if aliased is not None:
        names = [coef_names[i] if coef_names else f"x{i}" for i in np.flatnonzero(aliased)]
        warnings.warn(
            f"X is rank deficient: column(s) {names} (indices {np.flatnonzero(aliased).tolist()}) are linear "
            f"combinations of earlier ones; their coefficients are NaN, as R's NA",
            stacklevel=3,
        )
    status = Status(int(result.status))
    if status == Status.SEPARATION:
        what = "probabilities numerically 0 or 1" if result.family.name in ("binomial", "bernoulli") else "means numerically 0"
        warnings.warn(
            f"fitted {what} occurred: (quasi-)complete separation, the MLE does not exist and the "
            "coefficients diverge; status=Status.SEPARATION, converged=False",
            stacklevel=3,
        )
    elif status == Status.MAX_ITER:
        warnings.warn(f"IRLS did not converge in {int(result.n_iter)} iterations; converged=False", stacklevel=3)
    elif status == Status.NON_FINITE:
        warnings.warn(
            "IRLS found no valid step (non-finite deviance, or η/μ outside the valid range even after step "
            "halving); try init= starting values. converged=False",
            stacklevel=3,
        )
    elif status == Status.BOUNDARY:
        warnings.warn(
            "IRLS stopped on the edge of the valid range (every full step left it, e.g. fitted probabilities "
            "reaching 1 with a log link): the maximum is on the boundary, so standard errors and gradients do not "
            "apply. status=Status.BOUNDARY, converged=False",
            stacklevel=3,
        )
    elif status == Status.RANK_DEFICIENT:
        warnings.warn("XᵀWX was numerically singular; a ridge-stabilised step was used. converged=False",
                      stacklevel=3)
