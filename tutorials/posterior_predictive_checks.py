# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       format_name: percent
# ---

# %% [markdown]
# # Posterior predictive checks at scale
#
# A posterior predictive check asks: if the model were true, would data like ours be
# typical? Draw one replicated data set y_rep per posterior draw, compute a statistic
# T on each, and see where T(y) falls among the T(y_rep). With thousands of draws and
# many rows, the replicates themselves are the problem: 4,000 draws × 100,000 rows is
# 400 million numbers. `glm.posterior_predictive` draws them in chunks and, with
# `statistics=`, keeps only T(y_rep) per draw.
#
# We fit two models to overdispersed counts, a Poisson GLM (wrong: its variance is
# its mean) and a negative binomial GLM (right), and let the checks, LOO and the
# quantile residuals tell them apart.
#
# Run it as a script (`python tutorials/posterior_predictive_checks.py`) or open it in
# Jupyter with jupytext. `NUMPYRO_GLM_TUTORIAL_SMALL=1` shrinks it (the test suite
# does that).

# %%
import os

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

import numpyro_glm as glm

jax.config.update("jax_enable_x64", True)  # a tutorial may; the library never does
SMALL = os.environ.get("NUMPYRO_GLM_TUTORIAL_SMALL") == "1"
n = 400 if SMALL else 20_000
chains, draws = 2, (200 if SMALL else 1000)

# %% [markdown]
# ## Data: doctor visits per patient
#
# Counts of visits in a year, rising with age (in decades from 50) and with a chronic
# condition. Patients differ in ways the covariates miss, so the counts are a
# gamma mixture of Poissons: negative binomial with α = 0.8, Var(y) = μ + αμ².

# %%
rng = np.random.default_rng(7)
age = rng.normal(0.0, 1.5, n)
chronic = rng.binomial(1, 0.3, n).astype(float)
X = np.column_stack([np.ones(n), age, chronic])
names = ["(Intercept)", "age", "chronic"]
mu = np.exp(X @ np.array([0.6, 0.15, 0.7]))
alpha = 0.8
y = rng.poisson(rng.gamma(1 / alpha, alpha * mu)).astype(float)
print(f"n = {n}: mean {y.mean():.2f}, variance {y.var():.2f}, {np.mean(y == 0):.0%} zeros, max {y.max():.0f}")

# %% [markdown]
# ## Two models, sampled by NUTS
#
# Each is one `glm` block, sampled by `glm.nuts` from its maximum-likelihood fit. For
# the negative binomial we fix α at a moment estimate from the Poisson fit,
# α̂ = Σ[(y − μ̂)² − μ̂] / Σμ̂², to keep this tutorial quick to compile.
# `glm.NegativeBinomial()` without α would estimate it instead (by maximum likelihood in
# `glm.fit`; in a `glm` block, as a site `visits_alpha` with its own prior), and
# everything below would work unchanged.

# %%
poisson_fit = glm.fit(X, y, glm.Poisson())
mu_hat = np.asarray(poisson_fit.mu)
alpha_hat = float(np.sum((y - mu_hat) ** 2 - mu_hat) / np.sum(mu_hat**2))
print(f"moment estimate of α: {alpha_hat:.3f} (simulated {alpha})")


def poisson_model(X, y=None):
    glm.glm("visits", X, y, family=glm.Poisson(), coef_names=names)


def negbin_model(X, y=None):
    glm.glm("visits", X, y, family=glm.NegativeBinomial(alpha=alpha_hat), coef_names=names)


models = {"poisson": poisson_model, "negbin": negbin_model}
fits = {name: glm.nuts(model, X, y, num_warmup=200, num_samples=draws, num_chains=chains, key=jax.random.PRNGKey(i))
        for i, (name, model) in enumerate(models.items())}
for name, mcmc in fits.items():
    coef = mcmc.get_samples()["visits_coef"]
    print(f"{name:8s} coefficients, posterior mean: {np.asarray(coef.mean(0)).round(3)}, "
          f"sd: {np.asarray(coef.std(0)).round(3)}")

# %% [markdown]
# Both models get the coefficients about right (a Poisson GLM estimates the mean
# consistently even when its variance is wrong), but the Poisson posterior is far too
# narrow. Nothing in the coefficients says so: that is what the checks are for.
#
# ## Statistics on the device, one chunk of draws at a time
#
# `statistics=` takes names (`"mean"`, `"sd"`, `"max"`, `"prop_zeros"`, quantiles as
# `"qNN"`) and functions of one replicate: here the dispersion index var/mean, which is
# 1 for Poisson data. Each statistic is computed on the device right after its
# replicate is drawn; only one number per draw and statistic comes back. Here we also
# keep the replicates (`return_samples=True`, for ArviZ below); at scale, leave it out.

# %%
statistics = ["mean", "sd", "max", "prop_zeros", "q90", {"var/mean": lambda v: jnp.var(v, ddof=1) / jnp.mean(v)}]
checks = {}
for i, (name, model) in enumerate(models.items()):
    checks[name] = glm.posterior_predictive(model, fits[name], X, y=y, key=jax.random.PRNGKey(10 + i),
                                            statistics=statistics, return_samples=True)
    print(f"--- {name}")
    print(checks[name])

# %% [markdown]
# Read the p-values P(T(y_rep) ≥ T(y)): near 0 or 1 means the data are extreme among
# the model's replicates. The Poisson model reproduces the mean (a Poisson GLM with an
# intercept fits the mean exactly) and nothing else: its replicates are almost never
# as spread out as the data, have as many zeros or as large a maximum (p-values
# near 0). The negative binomial model puts the data among its replicates for every
# statistic.

# %%
for name, check in checks.items():
    p = {stat: float(s.p_value) for stat, s in check.statistics.items()}
    print(f"{name:8s} p-values: " + ", ".join(f"{stat} {v:.3f}" for stat, v in p.items()))
poisson_p = checks["poisson"].statistics
assert all(poisson_p[stat].p_value < 0.01 for stat in ("sd", "max", "prop_zeros", "var/mean"))
for stat in ("sd", "prop_zeros", "var/mean"):
    assert 0.01 < checks["negbin"].statistics[stat].p_value < 0.99

# %% [markdown]
# The maximum and the proportion of zeros are discrete: many replicates tie with the
# data, and "≥" counts the ties as exceedances. `p_value_mid` (ties counted half)
# is the symmetric alternative:

# %%
for name, check in checks.items():
    s = check.statistics["max"]
    print(f"{name:8s} max: p = {float(s.p_value):.3f}, ties {float(s.ties):.3f}, mid-p {float(s.p_value_mid):.3f}")

# %% [markdown]
# ## Chunks bound memory, and never change the answer
#
# The draws are cut into chunks of `batch_size` draws (default: about 2²² replicated
# values per chunk). Draw i always uses the key `fold_in(key, i)`, so the replicates
# do not depend on the chunking: the same call with chunks of 37 draws gives the same
# statistics, to the bit.

# %%
rechunked = glm.posterior_predictive(poisson_model, fits["poisson"], X, y=y, key=jax.random.PRNGKey(10),
                                     statistics=statistics, batch_size=37)
assert all(np.array_equal(rechunked.statistics[s].replicated, checks["poisson"].statistics[s].replicated)
           for s in rechunked.statistics)
print("identical with batch_size=37:", True, "| draw shape (chains, draws):", rechunked.draw_shape)

# %% [markdown]
# What this buys, in numbers (computed, not run): `numpyro.infer.Predictive` with
# `parallel=True` builds every replicate at once, and its Poisson sampler's
# temporaries with them; with `parallel=False` it loops over draws but keeps the whole
# output on the device. Here, at most two chunks are on the device at a time, and with
# `statistics=` (and `return_samples=False`, the default then) the replicates never
# exist in full anywhere.

# %%
big_draws, big_n, itemsize = 4_000, 100_000, 4  # float32
chunk_draws = 2**22 // big_n
print(f"{big_draws} draws × {big_n} rows:")
print(f"  all replicates (Predictive's output):   {big_draws * big_n * itemsize / 1e9:.1f} GB on the device")
print(f"  two chunks of {chunk_draws} draws (this function): {2 * chunk_draws * big_n * itemsize / 1e6:.0f} MB on the device")
print(f"  six statistics per draw kept on the host: {6 * big_draws * itemsize / 1e3:.0f} kB")

# %% [markdown]
# ## LOO from the pointwise log-likelihood
#
# `glm.log_likelihood` gives log p(yᵢ | θ) for every draw and row, in chunks, shaped
# (chains, draws, n): the input of ArviZ's PSIS-LOO. We put it, the replicates and the
# posterior in one `InferenceData` per model (`glm.to_inference_data` labels the
# coefficients; its own log-likelihood group is switched off, and ours added).

# %%
idatas = {}
for name, model in models.items():
    ll = glm.log_likelihood(model, fits[name], X, y=y)
    print(f"{name}: log-likelihood {ll['visits'].shape} (chains, draws, n)")
    idata = glm.to_inference_data(fits[name], posterior_predictive=checks[name], log_likelihood=False)
    idata.add_groups(log_likelihood={"visits": ll["visits"]}, dims={"visits": ["visits_rows"]})
    idatas[name] = idata
print(az.loo(idatas["poisson"]))
comparison = az.compare(idatas)
print(comparison[["rank", "elpd_loo", "p_loo", "elpd_diff", "dse", "weight"]])
assert comparison.index[0] == "negbin" and comparison.loc["poisson", "elpd_diff"] > 4 * comparison.loc["poisson", "dse"]
assert comparison.loc["poisson", "p_loo"] > 2 * comparison.loc["negbin", "p_loo"]

# %% [markdown]
# The negative binomial model predicts held-out points far better: elpd_diff is many
# of its standard errors dse. LOO has a second verdict of its own: p_loo, the effective
# number of parameters, is about the number of parameters (3) for the negative
# binomial but several times that for the Poisson model; p_loo well above the number
# of parameters is the mark of a misspecified model (ArviZ's and loo's FAQ).
#
# ## Randomized quantile residuals
#
# For counts, Pearson and deviance residuals are lumpy and skewed even for a correct
# model. Dunn–Smyth residuals are not: u is uniform between F(y − 1 | θ) and F(y | θ),
# and r = Φ⁻¹(u) is standard normal for a correct model, whatever the family. One
# residual per draw and row (of every tenth draw at full size: 200 draws × 20,000 rows
# are plenty here):

# %%
thin = 1 if SMALL else 10  # 200 draws × n rows are plenty for a residual check
for i, (name, model) in enumerate(models.items()):
    thinned = {site: values[::thin] for site, values in fits[name].get_samples().items()}
    r = glm.quantile_residuals(model, thinned, X, y=y, key=jax.random.PRNGKey(20 + i))["visits"]
    sd = r.std(axis=-1)  # per draw
    beyond = np.mean(np.abs(r) > 1.96)
    print(f"{name:8s} residuals {r.shape}: sd per draw {sd.mean():.2f} (1 if the model is right), "
          f"|r| > 1.96 for {beyond:.1%} (5% if right)")
    if name == "poisson":
        assert sd.mean() > 1.15
    else:
        assert abs(sd.mean() - 1) < 0.1

# %% [markdown]
# The same verdict from a third angle. For a `glm` block these residuals use the
# family's distribution function directly (the code behind
# `GLMFit.residuals(y, "quantile")`), so they cost one CDF per value, with no
# replicates.
