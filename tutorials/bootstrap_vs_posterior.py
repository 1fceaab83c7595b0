# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       format_name: percent
# ---

# %% [markdown]
# # The bootstrap versus the posterior, in ArviZ
#
# Two ways to get the uncertainty of a GLM's coefficients: resample and refit (the
# bootstrap), or sample the posterior (NUTS). With a correct model and a weak prior
# they agree. When the model's variance function is wrong they do not, and which one
# to believe depends on what each assumes. `glm.bootstrap` runs the refits as vmapped
# IRLS; the ArviZ glue puts both in the same `InferenceData` shape so that they can be
# summarised, tabulated and plotted side by side.
#
# Run it as a script (`python tutorials/bootstrap_vs_posterior.py`) or open it in
# Jupyter with jupytext. `NUMPYRO_GLM_TUTORIAL_SMALL=1` shrinks it (the test suite
# does that).

# %%
import os
import pathlib
import tempfile

import arviz as az
import jax
import numpy as np

import numpyro_glm as glm

jax.config.update("jax_enable_x64", True)  # a tutorial may; the library never does
SMALL = os.environ.get("NUMPYRO_GLM_TUTORIAL_SMALL") == "1"
n = 400 if SMALL else 2_000
n_boot = 500 if SMALL else 4_000
draws = 200 if SMALL else 1_000

# %% [markdown]
# ## Two data sets, one Poisson model
#
# Counts with an intercept, a continuous predictor and a binary one. In the first data
# set the counts are Poisson, so a Poisson GLM is the right model. In the second,
# each row's rate is multiplied by a gamma frailty of mean 1 (variance 0.6): the mean
# is the same, the variance μ + 0.6μ² is not what the Poisson model assumes.

# %%
rng = np.random.default_rng(3)
x = rng.normal(0.0, 1.0, n)
treated = rng.binomial(1, 0.5, n).astype(float)
X = np.column_stack([np.ones(n), x, treated])
names = ["(Intercept)", "x", "treated"]
mu = np.exp(X @ np.array([1.0, 0.4, -0.5]))
y_poisson = rng.poisson(mu).astype(float)
y_overdispersed = rng.poisson(mu * rng.gamma(1 / 0.6, 0.6, n)).astype(float)
for label, y in (("Poisson", y_poisson), ("overdispersed", y_overdispersed)):
    print(f"{label:14s} mean {y.mean():.2f}, variance {y.var():.2f}")

# %% [markdown]
# ## Three bootstraps
#
# `glm.bootstrap(X, y, family, n_boot=..., key=..., kind=...)` refits the GLM to
# `n_boot` resampled data sets, in vmapped chunks, each replicate warm-started from
# the original estimate:
#
# - `"pairs"`: resample rows with replacement, as frequency weights (X is never
#   copied). Assumes only that rows are independent.
# - `"bayesian"`: Rubin's Bayesian bootstrap, smooth Dirichlet weights on the rows.
#   The same assumption as pairs.
# - `"parametric"`: simulate new responses from the fitted model. Assumes the model,
#   its variance function included.
#
# On the Poisson data all three should agree with the model-based standard errors
# of `glm.fit`.

# %%
kinds = ["pairs", "bayesian", "parametric"]


def bootstraps(y):
    return {kind: glm.bootstrap(X, y, glm.Poisson(), n_boot=n_boot, key=jax.random.key(i), kind=kind,
                                coef_names=names)
            for i, kind in enumerate(kinds)}


def se_table(boots):
    fit = boots["pairs"].fit  # the fit of the original data: every bootstrap holds it
    print(f"{'':12s}{'model SE':>10s}" + "".join(f"{kind:>12s}" for kind in kinds))
    for j, name in enumerate(names):
        print(f"{name:12s}{float(fit.se[j]):10.4f}" + "".join(f"{boots[k].se[j]:12.4f}" for k in kinds))


boots_poisson = bootstraps(y_poisson)
se_table(boots_poisson)
for kind in kinds:
    assert np.allclose(boots_poisson[kind].se, boots_poisson[kind].fit.se, rtol=0.2)

# %% [markdown]
# Every replicate converged here; one that does not (a separated logistic resample,
# say) is counted in `n_failed` and left out of every statistic. The summary table has
# the estimate, the bootstrap mean and bias, the SE and percentile intervals:

# %%
print(boots_poisson["pairs"].summary())

# %% [markdown]
# ## A misspecified variance: the bootstraps part ways
#
# On the overdispersed data the Poisson fit still estimates the coefficients
# consistently, but its standard errors assume Var(y) = μ and are too small. The
# pairs and Bayesian bootstraps do not use the variance function: they agree with
# the sandwich (Huber–White, HC0) estimator, here computed by hand from the fit,
# (XᵀWX)⁻¹ [Σ xᵢxᵢᵀ (yᵢ − μ̂ᵢ)²] (XᵀWX)⁻¹ for a canonical link. The parametric
# bootstrap simulates Poisson data from the fit, so it reproduces the model's too-small
# standard errors.

# %%
boots = bootstraps(y_overdispersed)
fit = boots["pairs"].fit
se_table(boots)
residual = y_overdispersed - np.asarray(fit.mu)
meat = (X * residual[:, None] ** 2).T @ X
bread = np.asarray(fit.cov)  # (XᵀWX)⁻¹: the Poisson dispersion is 1
sandwich_se = np.sqrt(np.diag(bread @ meat @ bread))
print(f"\n{'':12s}{'pairs':>10s}{'sandwich':>10s}")
for j, name in enumerate(names):
    print(f"{name:12s}{boots['pairs'].se[j]:10.4f}{sandwich_se[j]:10.4f}")
assert np.allclose(boots["pairs"].se, sandwich_se, rtol=0.2)
assert np.allclose(boots["parametric"].se, fit.se, rtol=0.2)
assert np.all(boots["pairs"].se > 1.3 * np.asarray(fit.se))

# %% [markdown]
# ## The posterior
#
# Now the same Poisson model as a NumPyro model, sampled by NUTS from the MLE.
# `glm.to_inference_data` turns the run into ArviZ's `InferenceData`, with the
# coefficient names as coordinates of `counts_coef`.

# %%
def model(X, y=None):
    glm.glm("counts", X, y, family=glm.Poisson(), coef_names=names)


mcmc = glm.nuts(model, X, y_overdispersed, num_warmup=200, num_samples=draws, num_chains=2, key=jax.random.PRNGKey(0))
idata = glm.to_inference_data(mcmc, log_likelihood=False)
print(az.summary(idata, var_names=["counts_coef"]).to_string())

# %% [markdown]
# ## Both in ArviZ
#
# `glm.bootstrap_to_inference_data` gives a bootstrap the posterior's shape: one
# "chain", one "draw" per converged replicate, the same variable name (`name=` is the
# glm block's name) and coordinates. Then `az.summary` reads it like a posterior...

# %%
boot_idata = {kind: glm.bootstrap_to_inference_data(boots[kind], name="counts") for kind in kinds}
print(az.summary(boot_idata["pairs"], kind="stats").to_string())
print("attrs:", {k: boot_idata["pairs"].posterior.attrs[k] for k in ("bootstrap_kind", "n_boot", "n_failed")})

# %% [markdown]
# ... and `glm.compare_bootstrap_posterior` makes the tidy table: two rows per
# coefficient, with means, standard deviations, the 2.5% and 97.5% quantiles, and the
# ratio of the bootstrap's sd to the posterior's.

# %%
tables = {kind: glm.compare_bootstrap_posterior(idata, boot_idata[kind]) for kind in kinds}
print(tables["pairs"].round(4).to_string(index=False))
ratios = {kind: tables[kind].query("source == 'bootstrap'")["sd_ratio"].to_numpy() for kind in kinds}
print()
for kind in kinds:
    print(f"sd ratio {kind:>10s} / posterior:", ratios[kind].round(2))
assert np.all(ratios["pairs"] > 1.3) and np.all(ratios["bayesian"] > 1.3)
assert np.allclose(ratios["parametric"], 1, atol=0.25)

# %% [markdown]
# The picture, as a forest plot and overlaid densities (a matplotlib `Figure` that is
# never registered with pyplot, so it works headless; saved when given a path):

# %%
with tempfile.TemporaryDirectory() as folder:
    path = pathlib.Path(folder) / "bootstrap_vs_posterior.png"
    figure = glm.plot_bootstrap_vs_posterior(idata, boot_idata["pairs"], path=path)
    print(f"saved a figure with {len(figure.axes)} axes, {path.stat().st_size // 1024} kB")

# %% [markdown]
# ## Reading the comparison
#
# - **They agree** (sd ratios near 1) when the model is right and the prior is weak:
#   the posterior, the parametric bootstrap and the pairs bootstrap then all estimate
#   the same sampling variability (the Poisson data set above).
# - **The posterior sides with the model.** Its spread is the model-based standard
#   error: on overdispersed data it is as overconfident as the Poisson standard
#   errors, and so is the parametric bootstrap, which simulates from the same model.
# - **The pairs and Bayesian bootstraps side with the data.** They only assume
#   independent rows, so they estimate the sandwich standard errors. A pairs sd ratio
#   well above 1 is a diagnosis: the variance function is too small. Here the fix is a
#   better model (`glm.NegativeBinomial()`, see
#   `tutorials/posterior_predictive_checks.py`), not wider intervals alone.
# - **A ratio below 1** for some coefficient, with a correct model, points at the
#   prior: it is doing work that the data do not (a small group, a rare level).
