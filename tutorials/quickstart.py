# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       format_name: percent
# ---

# %% [markdown]
# # Quickstart: fit, summarise, predict, and check against statsmodels
#
# `glm.fit` is maximum likelihood by IRLS, as R's `glm`: the same estimates, standard
# errors, deviances and tests, in a jit-compiled JAX function. This tutorial fits a
# claim-frequency model with an exposure, reads R's summary table, predicts with
# intervals, looks at residuals, fits a claim-severity model with prior weights, and
# checks every number against statsmodels' `sm.GLM`.
#
# Run it as a script (`python tutorials/quickstart.py`) or open it in Jupyter with
# jupytext. `NUMPYRO_GLM_TUTORIAL_SMALL=1` shrinks it (the test suite does that).

# %%
import os

import jax
import numpy as np
import scipy.stats
import statsmodels.api as sm

import numpyro_glm as glm

# Statsmodels works in float64; so must we, to agree to many digits. The library
# never changes JAX's configuration: the dtype follows your inputs.
jax.config.update("jax_enable_x64", True)
SMALL = os.environ.get("NUMPYRO_GLM_TUTORIAL_SMALL") == "1"

# %% [markdown]
# ## Data: claims per motor policy
#
# Each policy has a driver's age, the car's value (in thousands) and whether it is
# kept in a city; it was insured for part of a year (its exposure, in years). Claims
# arrive at a rate per year, so the expected count is exposure × rate: with a log
# link that is an offset log(exposure), which `fit` takes as `exposure=`.
#
# `fit` adds no intercept: the design matrix includes a column of ones, as the
# matrix R builds from a formula would.

# %%
rng = np.random.default_rng(42)
n = 2_000 if SMALL else 20_000
age = rng.uniform(18, 80, n).round()
value = rng.gamma(4.0, 5.0, n).round(1)
city = rng.binomial(1, 0.4, n).astype(float)
exposure = rng.uniform(0.1, 1.0, n).round(2)
X = np.column_stack([np.ones(n), age, value, city])
names = ["(Intercept)", "age", "value", "city"]
true_coef = np.array([-1.5, -0.012, 0.015, 0.35])
claims = rng.poisson(exposure * np.exp(X @ true_coef)).astype(float)
print(f"{n} policies, {exposure.sum():.0f} policy-years, {claims.sum():.0f} claims")

# %% [markdown]
# ## The fit and R's summary table
#
# `coef_names` travel with the result into `summary()`. The table is R's
# `summary.glm`: z tests for Poisson (its dispersion is fixed at 1), deviances on
# their degrees of freedom, the AIC and the number of Fisher-scoring iterations.

# %%
freq = glm.fit(X, claims, glm.Poisson(), exposure=exposure, coef_names=names)
print(freq.summary())

# %% [markdown]
# The numbers are fields of a JAX pytree (`coef`, `se`, `cov`, `deviance`, `aic`,
# ...), and the tests and intervals are methods. Wald intervals are
# coef ± 1.96·se (R's `confint.default`); on the log scale, exp(coef) is a rate ratio.

# %%
ci = np.asarray(freq.conf_int(0.95))
print(f"{'':12s}{'rate ratio':>11s}{'2.5%':>9s}{'97.5%':>9s}{'p-value':>10s}")
for j, name in enumerate(names):
    print(f"{name:12s}{np.exp(freq.coef[j]):11.4f}{np.exp(ci[j, 0]):9.4f}{np.exp(ci[j, 1]):9.4f}"
          f"{float(freq.p_values[j]):10.2g}")
print(f"converged: {bool(freq.converged)} in {int(freq.n_iter)} iterations; "
      f"deviance {float(freq.deviance):.1f} on {int(freq.df_resid)} df")

# %% [markdown]
# ## Predictions with intervals
#
# `predict` takes new rows (the same columns) and an offset. For new policies with a
# full year of exposure the offset is log(1) = 0; `interval=0.95` returns the mean,
# a 95% confidence interval for it (computed on the link scale and mapped back, so it
# stays positive) and the delta-method standard error.

# %%
new = np.array([
    [1.0, 25, 15.0, 1.0],   # a young city driver, a cheap car
    [1.0, 45, 20.0, 0.0],
    [1.0, 70, 40.0, 0.0],   # an older driver, an expensive car
])
pred = freq.predict(new, offset=np.zeros(3), interval=0.95)
for row, mean, lo, hi in zip(new, pred.mean, pred.lower, pred.upper):
    print(f"age {row[1]:.0f}, value {row[2]:.0f}k, city {row[3]:.0f}: "
          f"{float(mean):.3f} claims/year (95% CI {float(lo):.3f}-{float(hi):.3f})")
print("on the link scale:", np.asarray(freq.predict(new, kind="link")).round(3))

# %% [markdown]
# ## Residuals
#
# The fit holds no copy of the data, so `residuals` takes y back. Pearson and deviance
# residuals are R's; for counts, randomized quantile residuals (Dunn and Smyth) are
# the ones to plot: for a correct model they are standard normal, whatever the
# family. Being random, they need a key.

# %%
resid = {kind: np.asarray(freq.residuals(claims, kind)) for kind in ("response", "pearson", "deviance")}
resid["quantile"] = np.asarray(freq.residuals(claims, "quantile", key=jax.random.PRNGKey(0)))
for kind, r in resid.items():
    print(f"{kind:9s} residuals: mean {r.mean():7.3f}, sd {r.std():6.3f}")
print("Pearson χ² / df (≈ 1 when the Poisson variance is right):",
      round(float(freq.pearson_chi2 / freq.df_resid), 3))

# %% [markdown]
# ## Side by side with statsmodels
#
# The same model in statsmodels: `sm.GLM` with `exposure=`. Coefficients and standard
# errors agree to many digits: both solve the same score equations. (The standard
# errors agree to about eight digits, not fifteen: statsmodels takes them from the IRLS
# weights of its last iteration, numpyro_glm from the weights at the final estimate.)

# %%
sm_freq = sm.GLM(claims, X, family=sm.families.Poisson(), exposure=exposure).fit(tol=1e-12)


def compare(ours, theirs, label):
    coef_diff = np.max(np.abs(np.asarray(ours.coef) - theirs.params))
    se_diff = np.max(np.abs(np.asarray(ours.se) / theirs.bse - 1))
    print(f"{label}: max |Δcoef| = {coef_diff:.1e}, max relative |Δse| = {se_diff:.1e}, "
          f"deviance {float(ours.deviance):.6f} vs {theirs.deviance:.6f}")
    return coef_diff, se_diff


coef_diff, se_diff = compare(freq, sm_freq, "Poisson frequency")
assert coef_diff < 1e-8 and se_diff < 1e-6
assert np.isclose(float(freq.aic), sm_freq.aic) and np.isclose(float(freq.null_deviance), sm_freq.null_deviance)

# %% [markdown]
# ## Prior weights: a claim-severity model
#
# Now the cost of claims. For each policy with claims we know the average cost of
# its claims. An average of k claims varies k times less than one claim, so a Gamma
# GLM on the averages takes k as the prior weight: Var(ȳᵢ) = φ μᵢ² / kᵢ. That is R's
# `weights=` and statsmodels' `var_weights=` (not its `freq_weights=`, which would
# count each row k times).

# %%
has_claims = claims > 0
k = claims[has_claims]
Xs = X[has_claims]
severity_mu = np.exp(Xs @ np.array([7.0, 0.004, 0.02, -0.1]))
shape = 2.0  # one claim's cost: Gamma with mean μ and shape 2 (φ = 1/2)
average_cost = rng.gamma(shape * k, severity_mu / (shape * k))  # the mean of k such costs
sev = glm.fit(Xs, average_cost, glm.Gamma(link="log"), weights=k, coef_names=names)
print(sev.summary())

sm_sev = sm.GLM(average_cost, Xs, family=sm.families.Gamma(sm.families.links.Log()), var_weights=k).fit(tol=1e-12)
coef_diff, se_diff = compare(sev, sm_sev, "Gamma severity")
assert coef_diff < 1e-8 and se_diff < 1e-6
print(f"dispersion: ours {float(sev.dispersion):.6f}, statsmodels' scale {sm_sev.scale:.6f} (simulated 0.5)")

# %% [markdown]
# ## Where R and statsmodels differ: the log-likelihood
#
# Both estimate the dispersion φ by Pearson χ²/df for the standard errors (above: the
# same number). The log-likelihood is another matter. numpyro_glm follows R's
# `logLik.glm`: for the Gamma family it is evaluated at the maximum-likelihood
# dispersion deviance/Σw, and each row's log density is multiplied by its weight.
# statsmodels evaluates it at the Pearson φ and gives a weighted row the density with
# shape w/φ. So `loglik`/`aic` differ from statsmodels' `llf`/`aic` here; R's number is
# easy to rebuild by hand with scipy:

# %%
mu = np.asarray(sev.mu)
phi_ml = float(sev.deviance) / k.sum()
r_loglik = np.sum(k * scipy.stats.gamma.logpdf(average_cost, a=1 / phi_ml, scale=mu * phi_ml))
print(f"loglik: numpyro_glm {float(sev.loglik):.4f}, R's formula {r_loglik:.4f}, statsmodels {sm_sev.llf:.4f}")
print(f"AIC:    numpyro_glm {float(sev.aic):.4f} (counts φ as a parameter, as R), statsmodels {sm_sev.aic:.4f}")
assert np.isclose(float(sev.loglik), r_loglik, rtol=1e-10)

# %% [markdown]
# Other places where R's conventions win (see `docs/fitting.md`): p-values with an
# estimated dispersion use Student's t on the residual df (statsmodels: the normal),
# and `dispersion="deviance"` leaves φ = 1 for Poisson and binomial models.
#
# ## Next
#
# `fit` is a JAX function: `jax.jit`, `jax.vmap` (one fit per response, each with its
# own `status`) and `jax.grad` (exact, by the implicit function theorem) all work on
# it; see `tutorials/differentiating_through_fit.py`. The same GLMs as blocks of
# NumPyro models, sampled by NUTS: `tutorials/bayesian_glm.py`; their posterior
# predictive checks: `tutorials/posterior_predictive_checks.py`; the bootstrap next
# to the posterior: `tutorials/bootstrap_vs_posterior.py`.
