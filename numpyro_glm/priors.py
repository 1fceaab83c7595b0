r"""Default priors of :func:`numpyro_glm.glm`: weakly informative and scaled to the data.

Use :func:`default_priors` to see or reuse what a model block will use, and
:func:`prior_summary` to print it. The defaults follow rstanarm's autoscaled priors:

================  ===================================================================
site              default prior
================  ===================================================================
slope βⱼ          Normal(0, 2.5·s_y/s_xⱼ)
intercept         β₀ + Σⱼ x̄ⱼβⱼ ~ Normal(g(ȳ), 2.5·s_y)   (at centred predictors)
dispersion φ      Gaussian: σ = √φ ~ Exponential(rate = 1/sd(y));
                  Gamma, inverse Gaussian, Tweedie(p): φ ~ Exponential(rate = ȳ^(p−2))
NB α              α ~ Exponential(1)
================  ===================================================================

* s_xⱼ is the (weighted) standard deviation of column j (|xⱼ| for a constant column,
  1 for a zero column); x̄ⱼ its mean.
* s_y = sd(y) for the Gaussian family with the identity link, else 1: the
  coefficients then live on the link scale, where 2.5 is already wide (rstanarm).
* The intercept is the first constant, non-zero column of X. As in rstanarm, its
  prior is on the intercept *at centred predictors*, α_c = β₀ + Σⱼ x̄ⱼβⱼ (the
  linear predictor at the mean row), while X itself is used as given: the joint
  prior of β is :class:`CoefficientPrior`. So the prior says "at typical x, η is near
  g(ȳ)", and uncentred columns (ages around 45, a year, a price) do not make it
  informative about β₀ nor wild about η. (Marginally β₀ has sd
  2.5·s_y·√(1 + Σⱼ (x̄ⱼ/s_xⱼ)²).)
* g(ȳ) is the link of the mean response ȳ, always finite: for probabilities
  (Bernoulli, binomial) R's ``mustart`` of the pooled data, (Σy + ½)/(Σtrials + 1);
  for other families the (weighted) mean of y, or R's ``mustart`` of it when it is
  outside the family's range (all-zero counts: ȳ + 0.1 for the Poisson).
* The dispersion prior puts the coefficient of variation at the mean response,
  √(φ ȳ^(p−2)), at about 1: weakly informative, and in the units of y.
* α ~ Exponential(1) shrinks towards the Poisson model (α = 0) with a mean of 1.

Without y (a prior-predictive run with ``y=None``) the statistics of y are replaced
by s_y = sd(y) = 1 and a reference mean (0 for the Gaussian family, 1 for positive
means, ½ for probabilities); pass ``priors=default_priors(X, y, family)`` to keep the
priors of the fitted data.

Overrides: ``priors={"coef": d, "intercept": d, "dispersion": d, "alpha": d}`` with
NumPyro distributions, any subset:

* ``"coef"``: a scalar distribution (broadcast) or one with batch shape (p,) is the
  prior of each *slope*; the intercept keeps its own prior (the default, or
  ``"intercept"``). A distribution with event shape (p,) (e.g. a
  ``MultivariateNormal``) is the prior of the whole vector, intercept included, and
  is used as is.
* ``"intercept"``: a scalar distribution on the real line, the prior of the
  intercept at centred predictors (rstanarm's ``prior_intercept``).
* ``"dispersion"``, ``"alpha"``: scalar distributions on the positive reals.

Example:
    >>> import numpy as np
    >>> from numpyro_glm import Poisson, default_priors
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> priors = default_priors(X, np.array([1.0, 2.0, 2.0, 5.0]), Poisson())
    >>> priors.coef.event_shape
    (2,)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import random
from numpyro.distributions import constraints

from .families import Family, Gamma, Gaussian, InverseGaussian, NegativeBinomial, Tweedie

__all__ = ["Priors", "CoefficientPrior", "default_priors", "prior_summary", "PriorSummary", "PRIOR_KEYS"]

PRIOR_KEYS = ("coef", "intercept", "dispersion", "alpha")
"""The keys ``priors=`` accepts."""

SCALE = 2.5
"""rstanarm's multiplier of the autoscaled normal priors."""


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class Priors:
    """The priors of one model block (what :func:`numpyro_glm.glm` samples from).

    A complete ``Priors`` can be passed as ``glm(..., priors=...)``: it is then used as
    is, without looking at the data (the way to fix the priors under ``jit``).
    """

    coef: dist.Distribution
    """Prior of the coefficient vector, event shape (p,)."""
    dispersion: dist.Distribution | None
    """Prior of φ (families with a free dispersion), else None."""
    alpha: dist.Distribution | None
    """Prior of the NB2 α (``NegativeBinomial(alpha=None)``), else None."""
    rows: tuple = field(default=(), compare=False, repr=False)
    """(what, distribution, parameters, how it was scaled) per row of the summary."""


class CoefficientPrior(dist.Distribution):
    r"""rstanarm's coefficient prior: slopes, and the intercept at centred predictors.

    With j the intercept column (``is_intercept``) and x̄ the column means, the
    intercept prior p_I is the prior of α_c = β_j + Σ_{k≠j} x̄_k β_k, the intercept of
    the model with centred predictors, and the slopes are independent:

        log p(β) = log p_I(β_j + Σ_{k≠j} x̄_k β_k) + Σ_{k≠j} log p_k(β_k)

    (β ↦ (α_c, β_{k≠j}) is linear with unit Jacobian, so this is a normalised density).
    A vague prior on α_c then stays vague about the raw intercept exactly as much as the
    predictors' offsets require, and no more. Without an intercept column the slopes'
    prior is the whole prior.

    Example:
        >>> import jax, jax.numpy as jnp, numpyro.distributions as dist
        >>> from numpyro_glm.priors import CoefficientPrior
        >>> d = CoefficientPrior(dist.Normal(0.0, 5.0), dist.Laplace(0.0, 1.0).expand([3]),
        ...                      jnp.array([True, False, False]), jnp.array([1.0, 10.0, 0.5]))
        >>> d.sample(jax.random.PRNGKey(0)).shape
        (3,)
    """

    arg_constraints = {}
    support = constraints.real_vector
    pytree_data_fields = ("intercept", "slopes", "is_intercept", "x_mean")

    def __init__(self, intercept: dist.Distribution, slopes: dist.Distribution, is_intercept, x_mean=None, *,
                 validate_args=None):
        for part, d in (("intercept", intercept), ("slopes", slopes)):
            if d.event_shape != () or d.support is not constraints.real:
                raise ValueError(f"the {part} prior must be a univariate distribution on the real line, got {d}")
        if intercept.batch_shape != ():
            raise ValueError(f"the intercept prior must be scalar, got batch shape {intercept.batch_shape}")
        if len(slopes.batch_shape) != 1:
            raise ValueError(f"the slopes prior must have batch shape (p,), got {slopes.batch_shape}")
        self.intercept = intercept
        self.slopes = slopes
        self.is_intercept = jnp.asarray(is_intercept)
        self.x_mean = jnp.zeros(slopes.batch_shape) if x_mean is None else jnp.asarray(x_mean)
        super().__init__(batch_shape=(), event_shape=slopes.batch_shape, validate_args=validate_args)

    def _centred_intercept(self, value):
        """β_j + Σ_{k≠j} x̄_k β_k (the intercept at centred predictors)."""
        return jnp.sum(jnp.where(self.is_intercept, value, self.x_mean * value), -1)

    def sample(self, key, sample_shape=()):
        key_intercept, key_slopes = random.split(key)
        centred = self.intercept.sample(key_intercept, sample_shape)
        slopes = jnp.where(self.is_intercept, 0.0, self.slopes.sample(key_slopes, sample_shape))
        raw = centred - jnp.sum(self.x_mean * slopes, -1)
        return jnp.where(self.is_intercept, raw[..., None], slopes)

    def log_prob(self, value):
        # Both parts are finite on the whole real line, so the unused branches of the
        # wheres never carry a NaN into the gradient.
        has_intercept = jnp.any(self.is_intercept)
        intercept = jnp.where(has_intercept, self.intercept.log_prob(self._centred_intercept(value)), 0.0)
        return intercept + jnp.sum(jnp.where(self.is_intercept, 0.0, self.slopes.log_prob(value)), -1)


# --------------------------------------------------------------------------- data scales


def _is_traced(*arrays) -> bool:
    return any(isinstance(a, jax.core.Tracer) for a in arrays if a is not None)


def _variance_power(family: Family) -> float | None:
    """p of V(μ) = μᵖ for the power-variance families, else None."""
    if isinstance(family, Gaussian):
        return 0.0
    if isinstance(family, Gamma):
        return 2.0
    if isinstance(family, InverseGaussian):
        return 3.0
    if isinstance(family, Tweedie):
        return family.power
    return None


def _reference_mean(family: Family) -> float:
    """A mean inside the family's range, used when there is no y."""
    with jax.ensure_compile_time_eval():  # constants, even inside a jit trace
        for mu in (0.0, 1.0, 0.5):
            if bool(family.valid_mu(jnp.asarray(mu))) and bool(jnp.isfinite(family.link(jnp.asarray(mu)))):
                return mu
    return 0.5


def _is_probability(family: Family) -> bool:
    """Whether the mean is bounded above by 1 (Bernoulli, binomial)."""
    with jax.ensure_compile_time_eval():
        return not bool(family.valid_mu(jnp.asarray(1.0)))


@dataclass(frozen=True)
class _Scales:
    """The statistics of the data the default priors are scaled by (NumPy or JAX arrays)."""

    intercept: object   # (p,) bool: the first constant, non-zero column
    x_mean: object      # (p,)
    x_scale: object     # (p,): sd, or |x| for a constant column, or 1
    mean: object        # ȳ (mean scale), inside the family's range
    mean_raw: object    # ȳ as computed (for the summary)
    y_sd: object        # sd(y), 1 when y is constant or absent
    s_y: object         # sd(y) for Gaussian-identity, else 1
    has_y: bool


def _scales(X, y, family: Family, weights, trials, xp) -> _Scales:
    n, p = X.shape
    w = xp.ones(n, X.dtype) if weights is None else xp.asarray(weights, X.dtype) * xp.ones(n, X.dtype)
    wn = w / xp.sum(w)
    x_mean = wn @ X
    x_sd = xp.sqrt(wn @ xp.square(X - x_mean))
    first_abs = xp.abs(X[0])
    x_scale = xp.where(x_sd > 0, x_sd, xp.where(first_abs > 0, first_abs, 1.0))
    constant = xp.all(X == X[:1], axis=0) & (X[0] != 0)
    intercept = constant & (xp.cumsum(constant) == 1)

    power = _variance_power(family)
    identity_gaussian = power == 0.0 and family.link.name == "identity"
    if y is None:
        mean = xp.asarray(_reference_mean(family), X.dtype)
        one = xp.ones((), X.dtype)
        return _Scales(intercept, x_mean, x_scale, mean, mean, one, one, False)

    active = w > 0
    y = xp.where(active, xp.asarray(y, X.dtype), 0.0)  # rows of weight 0 are not data
    total = xp.sum(w)
    if family.uses_trials:
        t = xp.where(active, xp.asarray(trials, X.dtype) * xp.ones(n, X.dtype), 0.0)
        mean_raw = xp.sum(w * y) / xp.sum(w * t)
        # R's mustart of the pooled data: (Σwy + ½)/(Σwn + 1), inside (0, 1).
        pooled = family.starting_mu(xp.sum(w * y), 1.0, trials=xp.sum(w * t))
        y_sd = xp.ones((), X.dtype)
    else:
        mean_raw = xp.sum(wn * y)
        pooled = family.starting_mu(mean_raw, total)  # Bernoulli: (Σwy + ½)/(Σw + 1)
        y_sd = xp.sqrt(xp.sum(wn * xp.square(y - mean_raw)))
        y_sd = xp.where((y_sd > 0) & xp.isfinite(y_sd), y_sd, 1.0)
    pooled = xp.asarray(pooled, X.dtype)
    valid = xp.asarray(family.valid_mu(mean_raw)) & xp.isfinite(xp.asarray(family.link(mean_raw)))
    # Probabilities always take the pooled mustart (ȳ = 1 − 10⁻¹⁶ is "valid" but its
    # logit is 37); other means take ȳ unless it is outside the range (all-zero counts).
    mean = pooled if _is_probability(family) else xp.where(valid, mean_raw, pooled)
    s_y = y_sd if identity_gaussian else xp.ones((), X.dtype)
    return _Scales(intercept, x_mean, x_scale, mean, mean_raw, y_sd, s_y, True)


# --------------------------------------------------------------------------- defaults


def _default_coef_params(scales: _Scales, family: Family, xp):
    """Slope scales (p,), and the intercept's loc and scale at centred predictors."""
    slope_scale = SCALE * scales.s_y / scales.x_scale
    intercept_loc = xp.asarray(family.link(scales.mean)).astype(slope_scale.dtype)
    intercept_scale = SCALE * scales.s_y * xp.ones((), slope_scale.dtype)
    return slope_scale, intercept_loc, intercept_scale


def _default_dispersion(scales: _Scales, family: Family, dtype):
    """(distribution, description, scaling note) of the default dispersion prior."""
    power = _variance_power(family)
    if power == 0.0:
        rate = jnp.asarray(1.0 / scales.y_sd, dtype)
        prior = dist.TransformedDistribution(dist.Exponential(rate), dist.transforms.PowerTransform(jnp.asarray(2.0, dtype)))
        return prior, "σ = √φ ~ Exponential", f"rate={_fmt(rate)}", f"rate = 1/sd(y), sd(y) = {_fmt(scales.y_sd)}"
    if power is not None:
        rate = jnp.asarray(jnp.power(scales.mean, power - 2.0), dtype)
        note = "rate = 1" if power == 2.0 else f"rate = ȳ^(p−2), ȳ = {_fmt(scales.mean)}, p = {power:g}"
        return dist.Exponential(rate), "Exponential", f"rate={_fmt(rate)}", note
    rate = jnp.ones((), dtype)
    return dist.Exponential(rate), "Exponential", "rate=1", "unscaled (no variance power known)"


def _fmt(x) -> str:
    if isinstance(x, jax.core.Tracer):
        return "traced"
    return f"{float(np.asarray(x)):.4g}"


def _float_dtype(X):
    """The floating dtype blocks on X compute in: X's, promoted to float, as JAX canonicalises it."""
    dtype = X.dtype if hasattr(X, "dtype") else np.asarray(X).dtype
    if hasattr(X, "dtypes") and not hasattr(X, "dtype"):  # a DataFrame
        dtype = np.result_type(*X.dtypes)
    return jax.dtypes.canonicalize_dtype(np.promote_types(dtype, np.float32))


def default_priors(X, y=None, family: Family | None = None, *, priors=None, weights=None, trials=None,
                   coef_names=None) -> Priors:
    """The priors a :func:`numpyro_glm.glm` block uses for this data (see the module docs).

    Use it to look at the priors, or to fix them once (``glm(..., priors=...)``) so a
    model compiled with traced data does not recompute them at every step.

    Args:
        X: design matrix, shape (n, p) (array or DataFrame).
        y: response, shape (n,), or None (prior predictive: unscaled statistics of y).
        family: a :class:`~numpyro_glm.families.Family` (default Gaussian()).
        priors: optional overrides, a dict with keys among ``"coef"``, ``"intercept"``,
            ``"dispersion"``, ``"alpha"`` (see the module docs).
        weights: prior weights, shape (n,) (the statistics are weighted; weight-0 rows
            are left out).
        trials: binomial trials, shape (n,).
        coef_names: names of the columns (for the summary rows).

    Returns:
        A :class:`Priors`. Under ``jit`` (traced X or y) the same priors are computed
        with JAX operations; ``rows`` is then empty.

    Example:
        >>> import numpy as np
        >>> from numpyro_glm import Gaussian, default_priors
        >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
        >>> p = default_priors(X, np.array([1.0, 3.0, 2.0, 6.0]), Gaussian())
        >>> round(float(p.coef.intercept.scale), 3), round(float(p.coef.slopes.scale[1]), 3)  # 2.5 sd(y), 2.5 sd(y)/sd(x)
        (4.677, 4.183)
    """
    family = Gaussian() if family is None else family
    if isinstance(priors, Priors):
        return priors
    if hasattr(X, "columns") and coef_names is None:
        coef_names = [str(c) for c in X.columns]
    traced = _is_traced(X, y, weights, trials)
    dtype = _float_dtype(X)
    # Concrete data: the statistics in float64 NumPy, once, outside any jit.
    X = jnp.asarray(X, dtype) if traced else np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D design matrix (n, p), got shape {X.shape}")
    p = X.shape[1]
    overrides = _checked_overrides(priors, family, p)
    names = list(coef_names) if coef_names is not None else [f"x{j}" for j in range(p)]
    if len(names) != p:
        raise ValueError(f"coef_names has {len(names)} names for {p} columns of X")
    if traced:
        scales = _scales(X, None if y is None else jnp.asarray(y), family, weights, trials, jnp)
        return _build(scales, family, overrides, dtype, names, concrete=False, p=p)
    # Concrete data inside a model being traced by jit (NUTS): compute now, so that the
    # priors enter the compiled model as constants.
    with jax.ensure_compile_time_eval():
        scales = _scales(X, None if y is None else np.asarray(y, float), family, weights, trials, np)
        return _build(scales, family, overrides, dtype, names, concrete=True, p=p)


def _checked_overrides(priors, family: Family, p: int) -> dict:
    if priors is None:
        return {}
    if not isinstance(priors, dict):
        raise ValueError(f"priors must be a dict with keys among {PRIOR_KEYS} (or a numpyro_glm.Priors), got "
                         f"{type(priors).__name__}")
    unknown = sorted(set(priors) - set(PRIOR_KEYS))
    if unknown:
        raise ValueError(f"unknown prior key(s) {unknown}; priors takes {list(PRIOR_KEYS)}")
    for key, value in priors.items():
        if not isinstance(value, dist.Distribution):
            raise ValueError(f"priors[{key!r}] must be a numpyro distribution, got {type(value).__name__}")
    if "dispersion" in priors and not family.has_free_dispersion:
        raise ValueError(f"the {family.name} family has no dispersion parameter; remove priors['dispersion']"
                         + (" (its α prior is priors['alpha'])" if isinstance(family, NegativeBinomial) else ""))
    if "alpha" in priors and not (isinstance(family, NegativeBinomial) and family.estimates_alpha):
        raise ValueError("priors['alpha'] is for NegativeBinomial(alpha=None) (an estimated α) only")
    for key in ("intercept", "dispersion", "alpha"):
        d = priors.get(key)
        if d is not None and (d.batch_shape != () or d.event_shape != ()):
            raise ValueError(f"priors[{key!r}] must be a scalar distribution, got batch shape {d.batch_shape} "
                             f"and event shape {d.event_shape}")
    if "intercept" in priors and priors["intercept"].support is not constraints.real:
        raise ValueError(f"priors['intercept'] must be a distribution on the real line, got {priors['intercept']}")
    coef = priors.get("coef")
    if coef is not None:
        if coef.event_shape == (p,):
            if "intercept" in priors:
                raise ValueError("priors['coef'] has event shape (p,): it is the prior of the whole coefficient "
                                 "vector, intercept included; give priors['intercept'] with a univariate "
                                 "priors['coef'] instead")
        elif coef.event_shape != () or coef.batch_shape not in ((), (p,)):
            raise ValueError(f"priors['coef'] must be a scalar distribution, one with batch shape ({p},) (one per "
                             f"column), or one with event shape ({p},); got batch shape {coef.batch_shape} and "
                             f"event shape {coef.event_shape}")
        elif coef.support is not constraints.real:
            raise ValueError(f"priors['coef'] must be a distribution on the real line, got {coef}")
    return dict(priors)


def _build(scales: _Scales, family: Family, overrides: dict, dtype, names, *, concrete: bool, p: int) -> Priors:
    xp = np if concrete else jnp
    rows = []
    slope_scale, intercept_loc, intercept_scale = _default_coef_params(scales, family, xp)
    mask = scales.intercept
    coef_override = overrides.get("coef")
    intercept_override = overrides.get("intercept")
    s_y_note = f"s_y = sd(y) = {_fmt(scales.s_y)}" if (_variance_power(family) == 0.0 and family.link.name == "identity"
                                                     and scales.has_y) else "s_y = 1"

    if coef_override is not None and coef_override.event_shape == (p,):
        coef = coef_override
        if concrete:
            name, params = _describe(coef)
            rows.append(("coef", name, params, "given (whole vector)"))
    else:
        if intercept_override is None:
            intercept = dist.Normal(jnp.asarray(intercept_loc, dtype), jnp.asarray(intercept_scale, dtype))
        else:
            intercept = intercept_override
        if coef_override is None:
            slopes = dist.Normal(jnp.zeros(p, dtype), jnp.asarray(slope_scale, dtype))  # intercept entry unused
        else:
            slopes = coef_override if coef_override.batch_shape == (p,) else coef_override.expand((p,))
        coef = CoefficientPrior(intercept, slopes, jnp.asarray(mask), jnp.asarray(scales.x_mean, dtype))
        if concrete:
            mean_note = f"ȳ = {_fmt(scales.mean)}" if scales.has_y else f"no y: reference mean {_fmt(scales.mean)}"
            for j in range(p):
                if bool(mask[j]):
                    how = "at centred predictors: β₀ + Σ x̄ⱼβⱼ" + (
                        "; given" if intercept_override is not None else
                        f"; loc = {family.link.name}(ȳ), {mean_note}; scale = 2.5·s_y, {s_y_note}")
                    name, params = _describe(intercept)
                else:
                    how = ("given" if coef_override is not None else
                           f"scale = 2.5·s_y/s_x, s_x = {_fmt(scales.x_scale[j])}, {s_y_note}")
                    name, params = _describe(slopes, j)
                rows.append((f"coef[{names[j]}]", name, params, how))

    dispersion = None
    if family.has_free_dispersion:
        if "dispersion" in overrides:
            dispersion = overrides["dispersion"]
            if concrete:
                rows.append(("dispersion", *_describe(dispersion), "given"))
        else:
            dispersion, name, params, how = _default_dispersion(scales, family, dtype)
            if concrete and not scales.has_y:
                how = "no y: " + how
            rows.append(("dispersion", name, params, how))
    alpha = None
    if isinstance(family, NegativeBinomial) and family.estimates_alpha:
        if "alpha" in overrides:
            alpha = overrides["alpha"]
            if concrete:
                rows.append(("alpha", *_describe(alpha), "given"))
        else:
            alpha = dist.Exponential(jnp.ones((), dtype))
            rows.append(("alpha", "Exponential", "rate=1", "unscaled (α is scale-free); shrinks towards Poisson"))
    return Priors(coef, dispersion, alpha, tuple(rows) if concrete else ())


def _describe(d, j=None):
    """(distribution name, "param=value, ...") of ``d`` (entry j of a batched one)."""
    base = d
    while isinstance(base, (dist.ExpandedDistribution, dist.Independent)):
        base = base.base_dist
    parts = []
    for key in getattr(base, "arg_constraints", {}):
        value = getattr(base, key, None)
        if value is None:
            continue
        array = np.asarray(value)
        if array.ndim == 0:
            parts.append(f"{key}={float(array):.4g}")
        elif j is not None and array.ndim == 1 and array.shape[0] > j:
            parts.append(f"{key}={float(array[j]):.4g}")
        else:
            parts.append(f"{key}=array{array.shape}")
    return type(base).__name__, ", ".join(parts)


# --------------------------------------------------------------------------- summary


class PriorSummary:
    """The priors of a block as a table; ``rows`` holds (site, distribution, parameters, scaling)."""

    def __init__(self, rows, family: Family, name: str):
        self.rows = [(f"{name}_{what}", d, params, how) for what, d, params, how in rows]
        self.family = family
        self.name = name

    def __str__(self) -> str:
        header = ("site", "distribution", "parameters", "scaled by")
        widths = [max(len(str(r[i])) for r in [header, *self.rows]) for i in range(3)]
        lines = [f"Priors of glm block {self.name!r} ({self.family.name} family, {self.family.link.name} link)", ""]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header[:3], widths)) + "  " + header[3])
        for row in self.rows:
            lines.append("  ".join(str(c).ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3])
        return "\n".join(lines)

    __repr__ = __str__


def prior_summary(X, y=None, family: Family | None = None, priors=None, coef_names=None, *, weights=None,
                  trials=None, name: str = "y") -> PriorSummary:
    """What priors a ``glm(name, X, y, family=family, priors=priors)`` block will use, as a table.

    Args:
        X: design matrix, shape (n, p) (array or DataFrame: its columns name the rows).
        y: response, shape (n,), or None.
        family: the block's family (default Gaussian()).
        priors: the overrides passed to ``glm`` (a dict or a :class:`Priors`).
        coef_names: names of the columns.
        weights, trials: as passed to ``glm``.
        name: the block's name (the table's site names are ``f"{name}_coef[...]"`` ...).

    Returns:
        A :class:`PriorSummary`; ``print`` it.

    Example:
        >>> import numpy as np
        >>> from numpyro_glm import Poisson, prior_summary
        >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
        >>> print(prior_summary(X, np.array([1.0, 2.0, 2.0, 5.0]), Poisson(), coef_names=["(Intercept)", "x"]))
        Priors of glm block 'y' (poisson family, log link)
        <BLANKLINE>
        site                 distribution  parameters             scaled by
        y_coef[(Intercept)]  Normal        loc=0.9163, scale=2.5  at centred predictors: β₀ + Σ x̄ⱼβⱼ; loc = log(ȳ), ȳ = 2.5; scale = 2.5·s_y, s_y = 1
        y_coef[x]            Normal        loc=0, scale=2.236     scale = 2.5·s_y/s_x, s_x = 1.118, s_y = 1
    """
    family = Gaussian() if family is None else family
    if isinstance(priors, Priors):
        rows = priors.rows or (("coef", *_describe(priors.coef), "given"),)
    else:
        if _is_traced(X, y, weights, trials):
            raise ValueError("prior_summary needs concrete arrays (call it outside jit)")
        rows = default_priors(X, y, family, priors=priors, weights=weights, trials=trials, coef_names=coef_names).rows
    return PriorSummary(rows, family, name)
