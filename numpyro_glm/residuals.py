r"""Randomized quantile residuals (Dunn & Smyth, 1996).

r = Φ⁻¹(u) with u = F(y) for a continuous response and u uniform on
(F(y⁻), F(y)] for a discrete one, F the fitted distribution function. For a correct
model they are exactly standard normal (up to the estimation of μ), whatever the
family: the residual to plot for counts and binary data.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import betainc, gammainc, gammaincc, ndtr, ndtri

from .distributions import InverseGaussian as _InverseGaussianDistribution
from .families import Family

__all__ = ["quantile_residuals", "pit_bounds", "normal_scores", "is_discrete"]


def _discrete_cdf(family: Family, k, mu, trials):
    """P(Y ≤ k) for integer k (k < 0 gives 0)."""
    name = family.name
    k_safe = jnp.maximum(k, 0.0)
    if name == "poisson":
        cdf = gammaincc(k_safe + 1.0, mu)
    elif name in ("binomial", "bernoulli"):
        n = jnp.ones_like(mu) if trials is None else trials
        below = k_safe < n
        cdf = jnp.where(below, betainc(jnp.where(below, n - k_safe, 1.0), k_safe + 1.0, 1.0 - mu), 1.0)
    elif name == "negative_binomial":
        r = 1.0 / family.alpha
        cdf = betainc(r, k_safe + 1.0, r / (r + mu))
    else:  # pragma: no cover - guarded by the caller
        raise NotImplementedError(name)
    return jnp.where(k < 0, 0.0, cdf)


def _continuous_cdf(family: Family, y, mu, dispersion, weights):
    name = family.name
    power = getattr(family, "power", None)
    phi = dispersion / (1.0 if weights is None else weights)
    if name == "gaussian" or power == 0:
        return ndtr((y - mu) / jnp.sqrt(phi))
    if name == "gamma" or power == 2:
        return gammainc(1.0 / phi, y / (mu * phi))
    if name == "inverse_gaussian" or power == 3:
        return _InverseGaussianDistribution(mu, 1.0 / phi).cdf(y)
    raise NotImplementedError(
        f"quantile residuals need the distribution function of {family!r}; it has no closed form"
    )


def pit_bounds(family: Family, y, mu, dispersion=1.0, *, weights=None, trials=None):
    """(F(y⁻), F(y)): the fitted distribution function just below and at y, shape of ``y``.

    The two are equal for a continuous family; for a discrete one a probability
    integral transform draws u uniformly between them (:func:`normal_scores`).
    Used by :func:`quantile_residuals` and, per posterior draw, by
    :func:`numpyro_glm.predictive.quantile_residuals`.

    Raises:
        NotImplementedError: for a family without a closed-form distribution function
            (Tweedie with 1 < p < 2).

    Example:
        >>> import jax.numpy as jnp
        >>> from numpyro_glm import Poisson
        >>> lower, upper = pit_bounds(Poisson(), jnp.array([0.0]), jnp.array([1.0]))
        >>> float(lower[0]), round(float(upper[0]), 6)  # P(Y < 0), P(Y ≤ 0) = e⁻¹
        (0.0, 0.367879)
    """
    y = jnp.asarray(y)
    mu = jnp.asarray(mu, y.dtype)
    power = getattr(family, "power", None)
    if power == 1:  # the scaled Poisson: y/φ ~ Poisson(μ/φ)
        from .families import Poisson

        return pit_bounds(Poisson(), y / dispersion, mu / dispersion)
    if family.name in ("poisson", "binomial", "bernoulli", "negative_binomial"):
        trials = None if trials is None else jnp.asarray(trials, y.dtype)
        return _discrete_cdf(family, y - 1.0, mu, trials), _discrete_cdf(family, y, mu, trials)
    cdf = _continuous_cdf(family, y, mu, dispersion, weights)
    return cdf, cdf


def is_discrete(family: Family) -> bool:
    """Whether the family's response is discrete (its PIT needs randomising)."""
    return family.name in ("poisson", "binomial", "bernoulli", "negative_binomial") or getattr(family, "power", None) == 1


def normal_scores(lower, upper, key=None):
    """Φ⁻¹(u) with u uniform on (lower, upper] (u = upper where they are equal, no key needed).

    The randomisation of Dunn & Smyth: for a correct model u is exactly uniform on
    (0, 1), so the scores are standard normal. u is clipped into (0, 1) so that the
    scores stay finite.
    """
    upper = jnp.asarray(upper)
    u = upper
    if key is not None:
        u = lower + jax.random.uniform(key, upper.shape, upper.dtype) * (upper - lower)
    tiny = jnp.finfo(upper.dtype).tiny
    return ndtri(jnp.clip(u, tiny, 1.0 - jnp.finfo(upper.dtype).epsneg))


def quantile_residuals(family: Family, y, mu, dispersion=1.0, *, weights=None, trials=None, key=None):
    """Randomized quantile residuals of a fitted GLM, shape of ``y``.

    Args:
        family: the fitted family (a NegativeBinomial must carry its α).
        y: response (success counts for the binomial family).
        mu: fitted means (probabilities for the binomial family).
        dispersion: φ̂ (continuous families).
        weights: prior weights (continuous families: they divide φ).
        trials: binomial trials.
        key: ``jax.random`` key; required for the discrete families.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from numpyro_glm import Poisson
        >>> from numpyro_glm.residuals import quantile_residuals
        >>> r = quantile_residuals(Poisson(), jnp.array([0.0, 3.0]), jnp.array([1.0, 2.0]), key=jax.random.PRNGKey(0))
        >>> r.shape
        (2,)
    """
    y = jnp.asarray(y)
    discrete = is_discrete(family)
    if discrete and key is None:
        raise ValueError("quantile residuals of a discrete family need key= (a jax.random key)")
    lower, upper = pit_bounds(family, y, mu, dispersion, weights=weights, trials=trials)
    return normal_scores(lower, upper, key if discrete else None)
