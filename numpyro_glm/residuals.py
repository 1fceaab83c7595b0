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

__all__ = ["quantile_residuals"]


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
    mu = jnp.asarray(mu, y.dtype)
    discrete = family.name in ("poisson", "binomial", "bernoulli", "negative_binomial") or getattr(family, "power", None) == 1
    if getattr(family, "power", None) == 1:  # the scaled Poisson: y/φ ~ Poisson(μ/φ)
        from .families import Poisson

        return quantile_residuals(Poisson(), y / dispersion, mu / dispersion, key=key)
    if discrete:
        if key is None:
            raise ValueError("quantile residuals of a discrete family need key= (a jax.random key)")
        trials = None if trials is None else jnp.asarray(trials, y.dtype)
        upper = _discrete_cdf(family, y, mu, trials)
        lower = _discrete_cdf(family, y - 1.0, mu, trials)
        u = lower + jax.random.uniform(key, y.shape, y.dtype) * (upper - lower)
    else:
        u = _continuous_cdf(family, y, mu, dispersion, weights)
    tiny = jnp.finfo(y.dtype).tiny
    return ndtri(jnp.clip(u, tiny, 1.0 - jnp.finfo(y.dtype).epsneg))
