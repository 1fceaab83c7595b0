r"""``bootstrap``: GLM refits vmapped over bootstrap replicates.

Use it for standard errors and intervals that do not lean on the model's variance
assumption (the pairs and Bayesian bootstraps, which agree with the sandwich
estimator), or to check the sampling distribution of an estimator under the fitted
model (the parametric bootstrap).

Every replicate is one call of the same jitted fit that :func:`numpyro_glm.fit`
runs (one IRLS implementation), ``vmap``-ed over replicates:

* ``kind="pairs"``: resample the rows with replacement. A resample is a vector of
  multinomial counts c ~ Multinomial(n, 1/n) over the rows with positive prior
  weight, and the replicate is the fit with weights w·c. X is never gathered; rows
  drawn 0 times get weight 0 and drop out (as in R).
* ``kind="bayesian"``: Rubin's Bayesian bootstrap, weights w·n·D with
  D ~ Dirichlet(1, ..., 1) over the rows with positive prior weight.
* ``kind="parametric"``: draw y* from the fitted model (``family.distribution`` at
  μ̂, φ̂ — and α̂ for the negative binomial, which is then re-estimated), refit.
  Prior weights divide the dispersion of the draw for families with a free
  dispersion (Var(y*) = φ̂V(μ̂)/w, the variance the fit assumes); draws of the other
  families ignore them, as R's ``simulate``.

Replicate i depends only on ``key`` and i (its key is ``fold_in(key, i)``), so the
result does not depend on ``batch_size``, and the first m replicates of a run with
``n_boot > m`` are those of a run with ``n_boot = m``.

**Dispersion.** A replicate's φ is its Pearson χ² (or deviance, with
``dispersion="deviance"``) over the *original* residual degrees of freedom: the
resample has as many rows as the data (Σc = n, or Σ n·D = n), however many distinct
rows it drew.

**Failures.** A replicate whose IRLS did not converge (separation in a resample, a
column left all zero, no convergence in ``max_iter``) has ``converged=False`` and
its :class:`~numpyro_glm.Status` in ``status``. It is left out of ``se``,
``conf_int`` and ``summary``, counted in ``n_failed``, and ``bootstrap`` warns with
the count.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from collections import Counter
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .families import Binomial, Family, NegativeBinomial
from .fit import fit as _fit
from .irls import Status
from .results import GLMFit

__all__ = ["bootstrap", "BootstrapResult", "BootstrapSummary", "KINDS"]

KINDS = ("pairs", "parametric", "bayesian")
"""The bootstrap schemes :func:`bootstrap` knows."""

_FLOAT32_TOL = 1e-6
"""Default convergence tolerance for float32 data (R's 1e-8 for float64)."""

_FIT_ARGUMENTS = ("weights", "offset", "exposure", "trials", "dispersion", "tol", "max_iter", "init", "coef_names")


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap replicates of a GLM fit. A registered pytree (arrays; batch axis first).

    The statistics (``mean``, ``se``, ``bias``, ``conf_int``, ``summary``; NumPy
    arrays, computed on the host) use the converged replicates only; ``n_failed``
    counts the others.
    """

    coef: jax.Array
    """Replicate coefficients, shape (n_boot, p) (NaN in aliased columns of X)."""
    dispersion: jax.Array | None
    """Replicate φ, shape (n_boot,), for families with a free dispersion; else None."""
    alpha: jax.Array | None
    """Replicate NB2 α, shape (n_boot,), for NegativeBinomial(alpha=None); else None."""
    converged: jax.Array
    """Whether each replicate's fit converged, bool, shape (n_boot,)."""
    status: jax.Array
    """Each replicate's :class:`~numpyro_glm.Status` code, int32, shape (n_boot,)."""
    n_iter: jax.Array
    """IRLS iterations of each replicate, int32, shape (n_boot,)."""
    fit: GLMFit
    """The fit of the original data (the estimate the replicates vary around)."""
    kind: str = "pairs"
    """"pairs", "parametric" or "bayesian" (static)."""
    coef_names: tuple[str, ...] = ()
    """Names of the p coefficients (static)."""
    level: float = 0.95
    """Default confidence level of :meth:`conf_int` and :meth:`summary` (static)."""

    @property
    def n_boot(self) -> int:
        """Number of replicates (converged or not)."""
        return self.coef.shape[0]

    @property
    def n_failed(self) -> int:
        """Number of replicates whose fit did not converge (left out of every statistic)."""
        return int(self.n_boot - np.sum(np.asarray(self.converged)))

    @property
    def failures(self) -> dict[str, int]:
        """Failed replicates by status name, e.g. ``{"SEPARATION": 3}``."""
        codes = np.asarray(self.status)[~np.asarray(self.converged)]
        return {Status(int(code)).name: count for code, count in sorted(Counter(codes.tolist()).items())}

    # The statistics are host-side summaries in NumPy (its quantile definition, and
    # no compilation of one-off reductions); they need concrete fields.
    def _kept_coef(self) -> np.ndarray:
        """Coefficients of the converged replicates, (n_converged, p)."""
        return np.asarray(self.coef)[np.asarray(self.converged, bool)]

    @property
    def mean(self) -> np.ndarray:
        """Mean of the converged replicates' coefficients, shape (p,)."""
        return self._kept_coef().mean(axis=0)

    @property
    def se(self) -> np.ndarray:
        """Bootstrap standard errors: the sd (ddof=1) of the converged replicates, shape (p,)."""
        return self._kept_coef().std(axis=0, ddof=1)

    @property
    def bias(self) -> np.ndarray:
        """Bootstrap estimate of bias: mean of the converged replicates − β̂, shape (p,)."""
        return self.mean - np.asarray(self.fit.coef)

    def conf_int(self, level: float | None = None) -> np.ndarray:
        """Percentile intervals from the converged replicates, shape (p, 2).

        The (1 − level)/2 and (1 + level)/2 quantiles of each coefficient's
        replicates (``numpy.quantile``'s default, linear interpolation).

        Example:
            >>> import jax, numpy as np, numpyro_glm as glm
            >>> X = np.column_stack([np.ones(40), np.linspace(-1, 1, 40)])
            >>> y = np.random.default_rng(0).poisson(np.exp(X @ [1.0, 0.5])).astype(float)
            >>> boot = glm.bootstrap(X, y, glm.Poisson(), n_boot=200, key=jax.random.key(0))
            >>> boot.conf_int(0.9).shape
            (2, 2)
        """
        level = self.level if level is None else _checked_level(level)
        return np.quantile(self._kept_coef(), [(1 - level) / 2, (1 + level) / 2], axis=0).T

    def summary(self, level: float | None = None) -> BootstrapSummary:
        """A printable table: estimate, bootstrap mean, bias, SE and percentile interval per coefficient.

        Example:
            >>> import jax, numpy as np, numpyro_glm as glm
            >>> X = np.column_stack([np.ones(40), np.linspace(-1, 1, 40)])
            >>> y = np.random.default_rng(0).poisson(np.exp(X @ [1.0, 0.5])).astype(float)
            >>> boot = glm.bootstrap(X, y, glm.Poisson(), n_boot=200, key=jax.random.key(0))
            >>> print(boot.summary())  # doctest: +ELLIPSIS
            Pairs bootstrap, poisson family (log link): 200 replicates, 0 failed
            ...
        """
        return BootstrapSummary(self, self.level if level is None else _checked_level(level))


jax.tree_util.register_dataclass(
    BootstrapResult,
    data_fields=["coef", "dispersion", "alpha", "converged", "status", "n_iter", "fit"],
    meta_fields=["kind", "coef_names", "level"],
)


class BootstrapSummary:
    """The table of :meth:`BootstrapResult.summary`; ``str()`` prints it, ``rows`` holds the numbers.

    ``rows``: one tuple per coefficient, (name, estimate, bootstrap mean, bias, se,
    lower, upper).
    """

    def __init__(self, boot: BootstrapResult, level: float):
        if np.ndim(boot.coef) != 2:
            raise ValueError("summary() needs one bootstrap, not a batch of them")
        self.boot, self.level = boot, level
        columns = (boot.fit.coef, boot.mean, boot.bias, boot.se, *boot.conf_int(level).T)
        columns = [np.asarray(c, float) for c in columns]
        self.rows = [(name, *(float(c[j]) for c in columns)) for j, name in enumerate(boot.coef_names)]

    def __str__(self) -> str:
        boot = self.boot
        family = boot.fit.family
        width = max([len(r[0]) for r in self.rows] + [11])
        lo, hi = f"{50 * (1 - self.level):.3g}%", f"{50 * (1 + self.level):.3g}%"
        lines = [
            f"{boot.kind.capitalize()} bootstrap, {family.name} family ({family.link.name} link): "
            f"{boot.n_boot} replicates, {boot.n_failed} failed"
            + (f" {boot.failures}" if boot.n_failed else ""),
            "",
            f"{'':{width}s} {'Estimate':>12s} {'Boot mean':>12s} {'Bias':>12s} {'Boot SE':>12s} {lo:>12s} {hi:>12s}",
        ]
        for name, *numbers_ in self.rows:
            if not np.isfinite(numbers_[0]):
                lines.append(f"{name:{width}s} " + " ".join(f"{'NA':>12s}" for _ in numbers_))
                continue
            lines.append(f"{name:{width}s} " + " ".join(f"{v:12.5g}" for v in numbers_))
        for label, values in (("dispersion", boot.dispersion), ("alpha", boot.alpha)):
            if values is not None:
                kept = np.asarray(values, float)[np.asarray(boot.converged)]
                estimate = boot.fit.dispersion if label == "dispersion" else boot.fit.alpha
                if kept.size:
                    lines.append(f"({label}: estimate {float(estimate):.5g}, bootstrap mean {kept.mean():.5g}, "
                                 f"SE {kept.std(ddof=1) if kept.size > 1 else float('nan'):.4g})")
        if boot.n_failed:
            lines.append(f"({boot.n_failed} replicate(s) did not converge and are left out of every column)")
        return "\n".join(lines)

    __repr__ = __str__


# --------------------------------------------------------------------------- drawing replicates


def _resample_weights(kind, key, prior_weights, active_rows):
    """The replicate's prior weights, shape (n,): w·counts (pairs) or w·n·Dirichlet (bayesian)."""
    n_active = active_rows.shape[0]
    dtype = prior_weights.dtype
    if kind == "pairs":
        # Multinomial(n_active, uniform) counts over the active rows, by an integer
        # scatter-add of n_active uniform row draws: no (B, n, p) gather of X.
        drawn = active_rows[_uniform_indices(key, n_active, n_active)]
        scale = jnp.zeros(prior_weights.shape, jnp.int32).at[drawn].add(1).astype(dtype)
    else:
        gamma = jax.random.exponential(key, (n_active,), dtype)
        scale = jnp.zeros(prior_weights.shape, dtype).at[active_rows].set(gamma * (n_active / jnp.sum(gamma)))
    return prior_weights * scale


def _uniform_indices(key, size: int, bound: int):
    """``size`` draws uniform on {0, ..., bound − 1}, int32.

    Lemire's multiply-shift, ⌊bits·bound / 2³²⌋ on 32 random bits: one draw of bits
    per index (``jax.random.randint`` takes two and a remainder, ~4× the time here,
    where drawing indices is a sizeable part of a replicate). A value's probability is
    off 1/bound by at most bound/2³² relative (2e-5 at bound = 10⁵). The 64-bit
    product's high word is formed from 16-bit halves, so it needs no uint64 (x64 off).
    """
    bits = jax.random.bits(key, (size,), jnp.uint32)
    b = jnp.uint32(bound)
    mask = jnp.uint32(0xFFFF)
    a1, a0, b1, b0 = bits >> 16, bits & mask, b >> 16, b & mask
    cross1, cross2 = a1 * b0, a0 * b1
    carry = ((cross1 & mask) + (cross2 & mask) + ((a0 * b0) >> 16)) >> 16
    return (a1 * b1 + (cross1 >> 16) + (cross2 >> 16) + carry).astype(jnp.int32)


def _simulate_response(family: Family, key, y, mu, dispersion, prior_weights, trials):
    """y* from the fitted model, shape (n,). Rows of weight 0 keep y (the fit ignores them)."""
    active = prior_weights > 0
    if family.has_free_dispersion:
        dispersion = dispersion / jnp.where(active, prior_weights, 1.0)
    if trials is not None:
        # NumPyro's binomial sampler indexes a table by the count: it needs integers.
        trials = jnp.round(trials).astype(jnp.result_type(int))  # (the default int: its cond needs it)
    y_star = family.distribution(mu, dispersion, trials=trials, validate_args=False).sample(key)
    return jnp.where(active, y_star.astype(y.dtype), y)


@partial(jax.jit, static_argnames=("chunk", "family", "kind", "dispersion", "tol", "max_iter"))
def _refit_chunk(key, start, X, y, prior_weights, offset, trials, init, active_rows, mu_hat, dispersion_hat,
                 alpha_hat, df_resid, *, chunk, family, kind, dispersion, tol, max_iter):
    """Refit replicates start, ..., start + chunk − 1: coef (chunk, p), φ, α, status, n_iter (chunk,)."""
    keys = _replicate_keys(key, start, chunk)

    def one(key):
        weights, y_star = prior_weights, y
        if kind == "parametric":
            simulate_family = family.replace(alpha=alpha_hat) if alpha_hat is not None else family
            y_star = _simulate_response(simulate_family, key, y, mu_hat, dispersion_hat, prior_weights, trials)
        else:
            weights = _resample_weights(kind, key, prior_weights, active_rows)
        refit = _fit(X, y_star, family, weights=weights, offset=offset, trials=trials, init=init,
                     dispersion=dispersion, tol=tol, max_iter=max_iter)
        phi = None
        if family.has_free_dispersion:
            if dispersion is None or isinstance(dispersion, str):
                statistic = refit.deviance if dispersion == "deviance" else refit.pearson_chi2
                # Over the original df: a resample has n rows however many are distinct.
                phi = statistic / df_resid
            else:
                phi = refit.dispersion
        return refit.coef, phi, refit.alpha, refit.status, refit.n_iter

    return jax.vmap(one)(keys)


# --------------------------------------------------------------------------- validation


def _checked_level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < float(level) < 1:
        raise ValueError(f"level must be a number in (0, 1), e.g. 0.95; got {level!r}")
    return float(level)


def _positive_int(argument: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        what = "a positive integer or None" if allow_none else "a positive integer"
        raise ValueError(f"{argument} must be {what}, got {value!r}")
    return int(value)


def _checked_key(key):
    is_typed = isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ()
    is_raw = isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 and key.shape == (2,)
    if not (is_typed or is_raw):
        shown = f"array of shape {key.shape} and dtype {key.dtype}" if hasattr(key, "dtype") else repr(key)
        raise ValueError(f"key must be a single JAX random key (jax.random.key(0) or jax.random.PRNGKey(0)), "
                         f"got {shown}")
    return key


def _float_dtype(X) -> np.dtype:
    """The dtype ``fit`` computes in for X (float32 unless X is float64 with x64 on)."""
    dtype = X.dtype if isinstance(X, (jax.Array, np.ndarray)) else np.asarray(X).dtype
    if not np.issubdtype(dtype, np.floating):
        dtype = np.float64
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype))


# Values per array of a default chunk (replicates × n): bounds memory whatever n_boot;
# speed barely depends on the chunk (benchmarks/bootstrap_speed.py).
_DEFAULT_CHUNK_VALUES = 2**18


def _default_batch_size(n: int) -> int:
    return max(16, _DEFAULT_CHUNK_VALUES // max(n, 1))


def _replicate_keys(key, start, count: int):
    """Keys of replicates start, ..., start + count − 1: replicate i's key is fold_in(key, i),
    whatever the batching."""
    return jax.vmap(jax.random.fold_in, (None, 0))(key, start + jnp.arange(count, dtype=jnp.uint32))


# --------------------------------------------------------------------------- bootstrap


def bootstrap(
    X,
    y,
    family: Family | None = None,
    *,
    n_boot: int,
    key,
    kind: str = "pairs",
    batch_size: int | None = None,
    level: float = 0.95,
    **fit_kwargs,
) -> BootstrapResult:
    """Bootstrap a GLM fit: ``n_boot`` refits, vmapped, in chunks of ``batch_size``.

    Use it when the model-based standard errors are in doubt (pairs or Bayesian
    bootstrap: robust to a wrong variance function, like the sandwich estimator), or
    to get the sampling distribution of the estimates under the fitted model
    (parametric). See the module docs for the schemes and how failures are handled.

    Args:
        X: design matrix, shape (n, p) (as :func:`~numpyro_glm.fit`: include a column of ones).
        y: response, shape (n,) (success counts for the binomial family).
        family: a :class:`~numpyro_glm.families.Family` (default Gaussian()).
            NegativeBinomial(alpha=None) re-estimates α in every replicate.
        n_boot: number of replicates (> 0).
        key: a JAX random key, ``jax.random.key(seed)`` or ``jax.random.PRNGKey(seed)``.
        kind: "pairs" (default), "parametric" or "bayesian".
        batch_size: replicates per vmapped chunk (> 0), bounding memory at about
            batch_size × n × (a few arrays). None (default): chunks of about
            2¹⁸ / n replicates (at least 16), so memory stays bounded whatever
            n_boot (speed barely depends on it: within 10 % from 125 to 1,000 at
            n = 1,000). The replicates do not depend on it.
        level: default confidence level of ``conf_int()`` and ``summary()``.
        **fit_kwargs: passed to :func:`~numpyro_glm.fit` for the original fit and every
            replicate: weights, offset, exposure, trials, dispersion, tol, max_iter,
            init, coef_names. Replicates start from β̂ of the original fit unless
            ``init`` is given. ``tol`` defaults to R's 1e-8, or 1e-6 for float32
            data (1e-8 is below float32's rounding of the deviance, and replicates
            would stall at ``max_iter``).

    Returns:
        A :class:`BootstrapResult`: ``coef`` (n_boot, p), ``dispersion`` (n_boot,) or
        None, ``alpha`` (n_boot,) or None, ``converged``/``status``/``n_iter``
        (n_boot,), the original ``fit``, and ``se``, ``conf_int(level)`` (p, 2),
        ``n_failed``, ``summary()``.

    Raises:
        ValueError: for n_boot ≤ 0, an unknown kind, batch_size ≤ 0, a key that is
            not a JAX random key, a level outside (0, 1), an unknown fit argument,
            every error of :func:`~numpyro_glm.fit` on the data, and a parametric
            bootstrap of a fit that did not converge.

    Warns:
        UserWarning: when some replicates did not converge, with how many and why.

    Example:
        >>> import jax, numpy as np, numpyro_glm as glm
        >>> rng = np.random.default_rng(0)
        >>> X = np.column_stack([np.ones(200), rng.normal(size=200)])
        >>> y = rng.poisson(np.exp(X @ [0.5, 0.3])).astype(float)
        >>> boot = glm.bootstrap(X, y, glm.Poisson(), n_boot=500, key=jax.random.key(1))
        >>> boot.coef.shape, boot.n_failed, boot.conf_int().shape
        ((500, 2), 0, (2, 2))
        >>> bool(np.allclose(boot.se, boot.fit.se, rtol=0.15))  # a correct model: close to the model SE
        True
    """
    n_boot = _positive_int("n_boot", n_boot)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")
    batch_size = _positive_int("batch_size", batch_size, allow_none=True)
    key = _checked_key(key)
    level = _checked_level(level)
    unknown = sorted(set(fit_kwargs) - set(_FIT_ARGUMENTS))
    if unknown:
        raise ValueError(f"unknown fit argument(s) {unknown}; bootstrap passes on only {', '.join(_FIT_ARGUMENTS)}")

    # R's tol = 1e-8 is below float32's rounding of the deviance: replicates then
    # oscillate by an ulp until max_iter (~1 % of Poisson replicates at n = 60).
    fit_kwargs.setdefault("tol", 1e-8 if _float_dtype(X) == np.float64 else _FLOAT32_TOL)

    # The boundary: fit validates the concrete data once and gives β̂ (and the
    # aliased columns, as NaN); the replicates then run traced, without checks.
    # (Names are attached afterwards: as a static argument of fit's jit, a new set
    # of names would compile the whole fit again.)
    coef_names = fit_kwargs.pop("coef_names", None)
    original = _fit(X, y, family, **fit_kwargs)
    family = original.family
    p = original.coef.shape[0]
    if kind == "parametric" and not bool(original.converged):
        raise ValueError(f"kind='parametric' simulates from the fitted model, but the fit of the data did not "
                         f"converge (status={Status(int(original.status)).name}); fix the fit first")
    names = tuple(str(c) for c in coef_names) if coef_names is not None else original.coef_names
    names = names or tuple(f"x{j}" for j in range(p))
    if len(names) != p:
        raise ValueError(f"coef_names has {len(names)} names for {p} columns of X")
    original = dataclasses.replace(original, coef_names=names)

    # Inputs are prepared in NumPy and moved to the device once: eager jnp
    # operations here would each compile on first use (seconds in all).
    dtype = np.dtype(original.coef.dtype)
    X = np.asarray(X, dtype)  # (a DataFrame too)
    n = X.shape[0]
    kept = np.isfinite(np.asarray(original.coef))  # aliased columns of X are NaN in β̂

    def column(value):
        return None if value is None else np.broadcast_to(np.asarray(value, dtype), (n,))

    prior_weights = column(fit_kwargs.get("weights", 1.0))
    offset = column(fit_kwargs.get("offset"))
    if fit_kwargs.get("exposure") is not None:
        log_exposure = np.log(column(fit_kwargs["exposure"]))
        offset = log_exposure if offset is None else offset + log_exposure
    trials = column(fit_kwargs.get("trials")) if isinstance(family, Binomial) else None
    init = fit_kwargs.get("init")
    if init is not None:
        init = np.asarray(init, dtype)[kept]
    elif bool(original.converged):
        init = np.asarray(original.coef)[kept]  # a replicate's MLE is near β̂: fewer iterations than mustart
    estimates_alpha = isinstance(family, NegativeBinomial) and family.estimates_alpha
    dispersion = fit_kwargs.get("dispersion")
    if dispersion is not None and not isinstance(dispersion, str):
        dispersion = float(dispersion)

    arrays = jax.device_put((
        X if kept.all() else X[:, kept], np.asarray(y, dtype), prior_weights, offset, trials, init,
        np.flatnonzero(prior_weights > 0).astype(np.int32), original.mu, original.dispersion,
        original.alpha if estimates_alpha else None, original.df_resid,
    ))
    static = dict(family=family, kind=kind, dispersion=dispersion, tol=float(fit_kwargs["tol"]),
                  max_iter=int(fit_kwargs.get("max_iter", 100)))
    chunk = min(n_boot, _default_batch_size(n) if batch_size is None else batch_size)
    pieces = []
    for start in range(0, n_boot, chunk):
        # Every chunk has the same shape (the last one is padded with extra
        # replicates, then trimmed on the host), so one compiled chunk serves all.
        out = _refit_chunk(key, np.uint32(start), *arrays, chunk=chunk, **static)
        pieces.append([None if a is None else np.asarray(a)[: n_boot - start] for a in out])
    coef, phi, alpha, status, n_iter = (None if pieces[0][i] is None else np.concatenate([pc[i] for pc in pieces])
                                        for i in range(5))
    if not kept.all():
        coef_all = np.full((n_boot, p), np.nan, dtype)
        coef_all[:, kept] = coef
        coef = coef_all
    coef, phi, alpha, status, n_iter = jax.device_put((coef, phi, alpha, status, n_iter))

    result = BootstrapResult(coef=coef, dispersion=phi, alpha=alpha,
                             converged=jax.device_put(np.asarray(status) == Status.CONVERGED),
                             status=status, n_iter=n_iter, fit=original, kind=kind, coef_names=names,
                             level=level)
    if result.n_failed:
        warnings.warn(
            f"{result.n_failed} of {n_boot} bootstrap replicates did not converge ({result.failures}); they are "
            f"left out of se, conf_int and summary (see .converged and .status)",
            stacklevel=2,
        )
    return result
