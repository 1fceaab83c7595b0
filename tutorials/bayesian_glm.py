# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       format_name: percent
# ---

# %% [markdown]
# # Bayesian GLMs: model blocks, default priors and MLE-initialised NUTS
#
# A GLM in a NumPyro model is one line, `glm.glm(name, X, y, family=...)`; its priors
# are scaled to the data (as in rstanarm); and `glm.nuts` starts the sampler from the
# maximum-likelihood answer with the Fisher information as its metric, so a short
# warmup suffices. We fit claim counts with an exposure, then add random intercepts
# per region.
#
# Run it as a script (`python tutorials/bayesian_glm.py`) or open it in Jupyter with
# jupytext. `NUMPYRO_GLM_TUTORIAL_SMALL=1` shrinks it (the test suite does that).

# %%
import os

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import Predictive

import numpyro_glm as glm

jax.config.update("jax_enable_x64", True)  # a tutorial may; the library never does
SMALL = os.environ.get("NUMPYRO_GLM_TUTORIAL_SMALL") == "1"
draws = 200 if SMALL else 1000

# %% [markdown]
# ## Data: claims per policy, on unstandardised predictors
#
# Real predictors come on their own scales: here the driver's age in years (around
# 45) and the car's value in thousands (around 20). Each policy was observed for its
# own exposure (years), which enters as an offset log(exposure).

# %%
rng = np.random.default_rng(1)
n, regions = (600 if SMALL else 3000), 8
age = rng.normal(45.0, 12.0, n)
value = rng.gamma(4.0, 5.0, n)
region = rng.integers(0, regions, n)
exposure = rng.uniform(0.2, 1.0, n)
X = np.column_stack([np.ones(n), age, value])
names = ["(Intercept)", "age", "value"]
true_coef = np.array([-0.8, -0.015, 0.03])
region_effect = rng.normal(0.0, 0.4, regions)
y = rng.poisson(exposure * np.exp(X @ true_coef + region_effect[region])).astype(float)
print(f"{n} policies, {y.sum():.0f} claims, {np.mean(y == 0):.0%} without a claim")

# %% [markdown]
# ## The model: one line
#
# `glm` creates the coefficient site `claims_coef` (one vector over the columns of X),
# the observation site `claims` in a plate over the rows, and returns the mean μ.
# Poisson has no dispersion site; a Gamma or Gaussian block would add
# `claims_dispersion`, a `NegativeBinomial()` block `claims_alpha`.

# %%
def model(X, exposure, y=None):
    glm.glm("claims", X, y, family=glm.Poisson(), offset=np.log(exposure), coef_names=names)


# %% [markdown]
# ## The default priors
#
# Weakly informative and scaled to the data: each slope gets Normal(0, 2.5/sd(x)) on
# the log scale, so a one-sd change of any predictor is a priori within a factor of
# e^±5, whatever its units; the intercept is centred on log(ȳ) and widened for the
# predictors' means (rstanarm's prior on the intercept at centred predictors).

# %%
print(glm.prior_summary(X, y, glm.Poisson(), coef_names=names, name="claims"))

# %% [markdown]
# A prior predictive check: claims simulated from the priors alone (no y) should be
# plausible in order of magnitude, not precise.

# %%
prior = Predictive(model, num_samples=50 if SMALL else 200)(jax.random.PRNGKey(0), X, exposure)
share_without_claim = np.asarray((prior["claims"] == 0).mean(1))
print("prior predictive share of policies without a claim, 10%/50%/90%:",
      np.percentile(share_without_claim, [10, 50, 90]).round(2), f"(observed {np.mean(y == 0):.2f})")

# %% [markdown]
# ## MLE-initialised NUTS
#
# `glm.nuts` fits the block by IRLS, starts each chain at an independent draw from
# the Laplace approximation N(β̂, Σ̂), and hands NUTS Σ̂ as its (dense) inverse mass
# matrix. It returns NumPyro's own `MCMC`, already run.

# %%
mcmc = glm.nuts(model, X, exposure, y, num_warmup=100, num_samples=draws, num_chains=2,
                key=jax.random.PRNGKey(1), extra_fields=("num_steps",))
mcmc.print_summary()
print("leapfrog steps per draw:", float(mcmc.get_extra_fields()["num_steps"].mean()))

# %% [markdown]
# What it started from is kept on the result: the fits, the centre and the matrix.
# With this much data and weak priors the posterior is the likelihood, so its means
# and standard deviations are the MLE and its standard errors.

# %%
init = mcmc.mle_init
mle = init.fits["claims"]
samples = mcmc.get_samples()["claims_coef"]
print(f"{'':12s}{'MLE':>10s}{'SE':>9s}{'post. mean':>12s}{'post. sd':>10s}")
for j, name in enumerate(names):
    print(f"{name:12s}{float(mle.coef[j]):10.4f}{float(mle.se[j]):9.4f}{float(samples[:, j].mean()):12.4f}"
          f"{float(samples[:, j].std()):10.4f}")
(sites,) = init.inverse_mass_matrix
print("mass matrix block:", sites)

# %% [markdown]
# ## A hierarchical extension: random intercepts per region
#
# `eta=` adds any term to the linear predictor. With a non-centred random intercept
# per region the model is one sample statement more. The MLE still starts the fixed
# coefficients (fitted with the random effects at their starting values as an
# offset); the random effects start from NumPyro's `init_to_median`, and since they
# have no MLE, `nuts` keeps adapting the mass matrix for them during warmup.

# %%
def hierarchical(X, exposure, region, y=None):
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("regions", regions):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
    glm.glm("claims", X, y, family=glm.Poisson(), offset=np.log(exposure), eta=sigma * z[region],
            coef_names=names)


mcmc_h = glm.nuts(hierarchical, X, exposure, region, y, num_warmup=300, num_samples=draws, num_chains=2,
                  key=jax.random.PRNGKey(2))
posterior = mcmc_h.get_samples()
print("sigma: posterior mean", float(posterior["sigma"].mean()).__round__(3), "(simulated with 0.4)")
effects = posterior["sigma"][:, None] * posterior["z"]
print("region effects, posterior mean:", np.asarray(effects.mean(0)).round(2))
print("                     simulated:", region_effect.round(2))
print("age and value slopes:", np.asarray(posterior["claims_coef"][:, 1:].mean(0)).round(4),
      "(simulated", true_coef[1:], ")")

# %% [markdown]
# ## Posterior predictive checks and ArviZ
#
# `Predictive` works on models built from blocks as on any NumPyro model: here the
# share of policies without a claim, replicated from the posterior. ArviZ objects get
# the coefficient names from `glm.arviz_labels`.

# %%
replicated = Predictive(hierarchical, posterior)(jax.random.PRNGKey(3), X, exposure, region)["claims"]
zero_share = np.asarray((replicated == 0).mean(1))
print(f"share without a claim: observed {np.mean(y == 0):.3f}, "
      f"replicated 5%-95%: {np.percentile(zero_share, 5):.3f}-{np.percentile(zero_share, 95):.3f}")

import arviz as az  # noqa: E402

idata = az.from_numpyro(mcmc_h, **glm.arviz_labels(hierarchical, X, exposure, region, y))
print(az.summary(idata, var_names=["claims_coef", "sigma"], kind="stats"))
