r"""``GLMFit``: the result of :func:`numpyro_glm.fit`, a JAX pytree with R's numbers.

Every number has its formula here (or in ``fit.py``, where it is computed):

* ``cov`` = φ̂ (XᵀWX)⁻¹ with W the IRLS weights at β̂ (R's ``vcov``), ``se`` = √diag.
* ``z``/``t`` = coef/se; ``p_values`` from Student's t on ``df_resid`` degrees of
  freedom when the dispersion is estimated (Gaussian, Gamma, inverse Gaussian,
  Tweedie), else from the normal, as R's ``summary.glm``.
* ``conf_int(level)`` = coef ± z_{(1+level)/2}·se (R's ``confint.default``, Wald).
* ``predict(..., interval=level)``: η̂ ± z·se(η̂) with se(η̂)² = x Cov xᵀ, and the
  mean's interval is g⁻¹ of those end points (it stays in the mean's range); the
  mean's standard error is the delta method's |dμ/dη|·se(η̂).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc, ndtr, ndtri

from .families import Binomial, Family

__all__ = ["GLMFit", "Prediction", "Summary"]


class Prediction(NamedTuple):
    """Predictions with a confidence interval (all shape (m,))."""

    mean: jax.Array
    """Predicted mean (or η for ``kind="link"``)."""
    lower: jax.Array
    """Lower end of the interval."""
    upper: jax.Array
    """Upper end of the interval."""
    se: jax.Array
    """Standard error on the predicted scale (delta method for the mean)."""


@dataclass(frozen=True)
class GLMFit:
    """A fitted GLM. A registered pytree: it can be returned from ``jit`` and ``vmap``.

    It holds no copy of X or y; methods that need data take it as an argument.
    Fields are arrays (scalars unless a shape is given; under vmap a batch axis
    leads). Aliased (rank-deficient) columns have NaN in ``coef``, ``se`` and ``cov``.
    """

    coef: jax.Array
    """β̂, shape (p,)."""
    cov: jax.Array
    """Covariance of β̂ scaled by the dispersion, shape (p, p)."""
    se: jax.Array
    """Standard errors, shape (p,)."""
    dispersion: jax.Array
    """φ̂ used for ``cov`` (1 for Poisson, binomial, negative binomial by default)."""
    deviance: jax.Array
    """Residual deviance Σ w d(y, μ̂)."""
    null_deviance: jax.Array
    """Deviance of the intercept-only model (offset kept; no intercept: μ = g⁻¹(offset))."""
    pearson_chi2: jax.Array
    """Σ w (y − μ̂)² / V(μ̂)."""
    loglik: jax.Array
    """Log-likelihood with R's ``logLik.glm`` conventions."""
    aic: jax.Array
    """−2 loglik + 2k, k counting coefficients, an estimated dispersion and α (R)."""
    bic: jax.Array
    """−2 loglik + log(n)·k."""
    df_resid: jax.Array
    """Residual degrees of freedom: rows with positive weight minus the rank."""
    df_model: jax.Array
    """Rank minus the intercept."""
    n_iter: jax.Array
    """IRLS iterations (weighted least-squares solves)."""
    converged: jax.Array
    """True only when ``status == Status.CONVERGED``."""
    status: jax.Array
    """A :class:`~numpyro_glm.Status` code (int32)."""
    eta: jax.Array
    """Linear predictor, shape (n,)."""
    mu: jax.Array
    """Fitted means, shape (n,) (probabilities for the binomial family)."""
    alpha: jax.Array | None
    """Estimated NB2 α (NegativeBinomial(alpha=None) only), else None."""
    alpha_se: jax.Array | None
    """Standard error of α̂ from the joint observed information in (β, log α), else
    None. (Computed at the solver's output: gradients of it are zero.)"""
    family: Family
    """The family (static; an estimated α lives in ``alpha``)."""
    coef_names: tuple[str, ...] | None = None
    """Optional names of the coefficients (static)."""

    # -- inference -------------------------------------------------------------------
    @property
    def uses_t(self) -> bool:
        """Whether tests use Student's t (estimated dispersion), as R's summary.glm."""
        return self.family.has_free_dispersion

    @property
    def z(self) -> jax.Array:
        """coef / se, shape (p,) (R's "z value"; "t value" when :attr:`uses_t`)."""
        return self.coef / self.se

    t = z

    @property
    def p_values(self) -> jax.Array:
        """Two-sided p-values of coef = 0, shape (p,)."""
        stat = jnp.abs(self.z)
        if self.uses_t:
            df = jnp.asarray(self.df_resid, stat.dtype)
            return betainc(0.5 * df, 0.5, df / (df + stat * stat))
        return 2.0 * ndtr(-stat)

    def conf_int(self, level: float = 0.95) -> jax.Array:
        """Wald intervals coef ± z·se (R's ``confint.default``), shape (p, 2).

        Example:
            >>> import numpy as np, numpyro_glm as glm
            >>> X = np.column_stack([np.ones(6), np.arange(6.0)])
            >>> fit = glm.fit(X, np.array([1.0, 0, 2, 3, 2, 5]), glm.Poisson())
            >>> fit.conf_int(0.95).shape
            (2, 2)
        """
        q = _normal_quantile(level, self.coef.dtype)
        return jnp.stack([self.coef - q * self.se, self.coef + q * self.se], axis=-1)

    # -- prediction ------------------------------------------------------------------
    def predict(self, X_new, offset=None, kind: str = "mean", interval: float | None = None):
        """Predicted means (or η with ``kind="link"``) for new rows.

        Args:
            X_new: shape (m, p), the same columns as the fit.
            offset: shape (m,) or None.
            kind: "mean" or "link".
            interval: a confidence level such as 0.95 to get a :class:`Prediction`
                (mean, lower, upper, se) instead of an array.

        Returns:
            Shape (m,) array, or a :class:`Prediction`.
        """
        if kind not in ("mean", "link"):
            raise ValueError(f"kind must be 'mean' or 'link', got {kind!r}")
        X_new = jnp.asarray(X_new, self.coef.dtype)
        if X_new.ndim != 2 or X_new.shape[-1] != self.coef.shape[-1]:
            raise ValueError(f"X_new must have shape (m, {self.coef.shape[-1]}), got {X_new.shape}")
        coef = jnp.nan_to_num(self.coef)  # aliased columns contribute nothing, as R
        eta = X_new @ coef
        if offset is not None:
            eta = eta + jnp.asarray(offset, eta.dtype)
        link = self.family.link
        point = eta if kind == "link" else link.inverse(eta)
        if interval is None:
            return point
        cov = jnp.nan_to_num(self.cov)
        se_eta = jnp.sqrt(jnp.einsum("ij,jk,ik->i", X_new, cov, X_new))
        q = _normal_quantile(interval, eta.dtype)
        lo, hi = eta - q * se_eta, eta + q * se_eta
        if kind == "link":
            return Prediction(eta, lo, hi, se_eta)
        ends = jnp.stack([link.inverse(lo), link.inverse(hi)])
        se_mu = jnp.abs(link.inverse_deriv(eta)) * se_eta
        return Prediction(point, ends.min(0), ends.max(0), se_mu)

    # -- residuals -------------------------------------------------------------------
    def residuals(self, y, kind: str = "deviance", *, weights=None, trials=None, key=None):
        """Residuals of the fit for the response ``y`` it was fitted to, shape (n,).

        Args:
            y: the response (success counts for the binomial family).
            kind: "response" (y − μ), "pearson" ((y − μ)√w/√V(μ)), "deviance"
                (sign(y − μ)√(w d)), "working" ((y − μ) dη/dμ) or "quantile"
                (Dunn & Smyth's randomized quantile residuals Φ⁻¹(u); needs ``key``
                for discrete families).
            weights, trials: as passed to ``fit``.
            key: a ``jax.random`` key (quantile residuals of discrete families).
        """
        family = self.family.replace(alpha=self.alpha) if self.alpha is not None else self.family
        y = jnp.asarray(y, self.mu.dtype)
        mu = self.mu
        n = jnp.ones_like(mu) if trials is None else jnp.asarray(trials, mu.dtype)
        w = jnp.ones_like(mu) if weights is None else jnp.asarray(weights, mu.dtype)
        binomial = isinstance(family, Binomial)
        y_mean = y / n if binomial else y
        w_eff = w * n if binomial else w
        if kind == "response":
            return y_mean - mu
        if kind == "pearson":
            return (y_mean - mu) * jnp.sqrt(w_eff / family.variance(mu))
        if kind == "deviance":
            unit = family.unit_deviance(y_mean, mu, trials=jnp.ones_like(mu)) if binomial else family.unit_deviance(y, mu)
            return jnp.sign(y_mean - mu) * jnp.sqrt(jnp.maximum(w_eff * unit, 0.0))
        if kind == "working":
            return (y_mean - mu) * family.link.deriv(mu)
        if kind == "quantile":
            from .residuals import quantile_residuals

            return quantile_residuals(family, y, mu, self.dispersion, weights=weights, trials=trials, key=key)
        raise ValueError(f"kind must be one of response, pearson, deviance, working, quantile; got {kind!r}")

    # -- summary ---------------------------------------------------------------------
    def summary(self, coef_names=None) -> Summary:
        """R's ``summary.glm`` as a printable object.

        Example:
            >>> import numpy as np, numpyro_glm as glm
            >>> X = np.column_stack([np.ones(6), np.arange(6.0)])
            >>> fit = glm.fit(X, np.array([1.0, 0, 2, 3, 2, 5]), glm.Poisson())
            >>> print(fit.summary(["(Intercept)", "x"]))  # doctest: +ELLIPSIS
            Family: poisson, link: log
            ...
        """
        return Summary(self, coef_names if coef_names is not None else self.coef_names)


def _normal_quantile(level: float, dtype):
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return jnp.asarray(ndtri(jnp.asarray(0.5 + level / 2)), dtype)


jax.tree_util.register_dataclass(
    GLMFit,
    data_fields=[
        "coef", "cov", "se", "dispersion", "deviance", "null_deviance", "pearson_chi2", "loglik", "aic", "bic",
        "df_resid", "df_model", "n_iter", "converged", "status", "eta", "mu", "alpha", "alpha_se",
    ],
    meta_fields=["family", "coef_names"],
)


def _format_p(p: float) -> str:
    if not np.isfinite(p):
        return "NA"
    return "<2e-16" if p < 2e-16 else f"{p:.3g}"


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return mark
    return ""


class Summary:
    """R's ``summary.glm`` layout; ``str(summary)`` is the table. ``rows`` holds the numbers."""

    def __init__(self, fit: GLMFit, coef_names=None):
        if np.ndim(fit.coef) != 1:
            raise ValueError("summary() needs a single fit, not a batch (index it first)")
        p = fit.coef.shape[0]
        names = list(coef_names) if coef_names is not None else [f"x{i}" for i in range(p)]
        if len(names) != p:
            raise ValueError(f"coef_names has {len(names)} names for {p} coefficients")
        coef, se, stat, pv = (np.asarray(a, float) for a in (fit.coef, fit.se, fit.z, fit.p_values))
        self.rows = [(names[i], coef[i], se[i], stat[i], pv[i]) for i in range(p)]
        self.fit = fit

    def __str__(self) -> str:
        fit = self.fit
        stat_name, p_name = ("t value", "Pr(>|t|)") if fit.uses_t else ("z value", "Pr(>|z|)")
        width = max([len(r[0]) for r in self.rows] + [11])
        lines = [f"Family: {fit.family.name}, link: {fit.family.link.name}", "", "Coefficients:"]
        lines.append(f"{'':{width}s} {'Estimate':>12s} {'Std. Error':>12s} {stat_name:>9s} {p_name:>10s}")
        for name, c, s, z, p in self.rows:
            if not np.isfinite(c):
                lines.append(f"{name:{width}s} {'NA':>12s} {'NA':>12s} {'NA':>9s} {'NA':>10s}")
                continue
            lines.append(f"{name:{width}s} {c:12.5g} {s:12.5g} {z:9.3f} {_format_p(p):>10s} {_stars(p)}")
        lines += ["---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1", ""]
        disp = float(fit.dispersion)
        which = "taken to be" if not fit.family.has_free_dispersion else "estimated as"
        lines.append(f"(Dispersion parameter for {fit.family.name} family {which} {disp:.6g})")
        if fit.alpha is not None:
            lines.append(f"(Negative binomial alpha estimated as {float(fit.alpha):.6g}, SE {float(fit.alpha_se):.4g})")
        lines.append("")
        df_resid = int(fit.df_resid)
        df_null = df_resid + int(fit.df_model)
        lines.append(f"    Null deviance: {float(fit.null_deviance):.6g}  on {df_null} degrees of freedom")
        lines.append(f"Residual deviance: {float(fit.deviance):.6g}  on {df_resid} degrees of freedom")
        aic = float(fit.aic)
        lines.append(f"AIC: {aic:.6g}" if math.isfinite(aic) else "AIC: NA")
        lines.append("")
        from .irls import Status

        status = Status(int(fit.status))
        lines.append(f"Number of Fisher Scoring iterations: {int(fit.n_iter)} ({status.name.lower()})")
        return "\n".join(lines)

    __repr__ = __str__
