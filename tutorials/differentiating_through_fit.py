# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       format_name: percent
# ---

# %% [markdown]
# # Differentiating through `fit`
#
# `glm.fit` is a JAX function of its data: the estimates β̂(X, y, weights, offset) can
# be differentiated like any other. The derivative does not go through the IRLS
# iterations. β̂ solves the score equations S(β̂; data) = 0, so by the implicit
# function theorem
#
#     dβ̂ = −H⁻¹ (∂S/∂data) d(data),    H = ∂S/∂β, the observed Hessian at β̂,
#
# one linear solve per direction, exact for every link. This tutorial uses it to
# measure the influence of each observation on the estimates, checks it three ways,
# and then tunes a hyperparameter (how fast old data are forgotten) by gradient
# descent through `fit`.
#
# Run it as a script (`python tutorials/differentiating_through_fit.py`) or open it in
# Jupyter with jupytext. `NUMPYRO_GLM_TUTORIAL_SMALL=1` shrinks it (the test suite
# does that).

# %%
import os

import jax
import jax.numpy as jnp
import numpy as np

import numpyro_glm as glm

jax.config.update("jax_enable_x64", True)  # a tutorial may; the library never does
SMALL = os.environ.get("NUMPYRO_GLM_TUTORIAL_SMALL") == "1"
n = 300 if SMALL else 2_000

# %% [markdown]
# ## Data: repair costs recorded over six years
#
# The cost of a repair (a Gamma response with a log link: costs are positive and
# their spread grows with their mean) depends on a standardised damage score x and on
# whether the car is a company car. The effect of the damage score has grown over the
# years: each record carries its age in years, and the slope was 0.7 today but 0.4 six
# years ago.

# %%
rng = np.random.default_rng(5)
family = glm.Gamma(link="log")
names = ["(Intercept)", "damage", "company"]


def simulate(rows, age):
    x = rng.normal(0.0, 1.0, rows)
    company = rng.binomial(1, 0.4, rows).astype(float)
    X = np.column_stack([np.ones(rows), x, company])
    slope = 0.7 - 0.05 * age  # 0.7 today (age 0), 0.4 six years ago
    y = rng.gamma(1.0, np.exp(1.0 + slope * x + 0.3 * company))  # shape 1: dispersion 1
    return X, y


age = rng.uniform(0.0, 6.0, n)
X, y = simulate(n, age)
# Weights of 1 are the unweighted fit; passing them lets the weighted fit at the end
# reuse this compiled one (fit compiles once per family, shapes and given arguments).
base = glm.fit(X, y, family, weights=np.ones(n), coef_names=names)
print(base.summary())

# %% [markdown]
# ## The Jacobian of β̂ with respect to the data
#
# `jax.jacfwd` of a function that calls `fit` and returns `coef`: with respect to the
# response y and the prior weights w at once (`argnums=(0, 1)`), each a p × n matrix.
# Inside `jax.jit` nothing is validated or warned about (the status is in the result),
# and the whole Jacobian is one compiled function.

# %%
def coef(y, weights):
    return glm.fit(X, y, family, weights=weights).coef


ones = np.ones(n)
dcoef_dy, dcoef_dw = jax.jit(jax.jacfwd(coef, argnums=(0, 1)))(y, ones)
print("dβ̂/dy:", dcoef_dy.shape, " dβ̂/dw:", dcoef_dw.shape)

# %% [markdown]
# ### Check 1: finite differences of refits
#
# Perturb one yᵢ up and down by a relative 10⁻⁴, refit, and divide: the central
# difference of β̂. For every row at once, refit n responses in one `jax.vmap`: the
# vmapped fit is compiled once, and each member is an independent IRLS (warm-started
# at β̂, so a couple of iterations). We compile it for (y, w) pairs so that the
# leave-one-out refits below reuse it.

# %%
refit = jax.jit(jax.vmap(lambda y, w: glm.fit(X, y, family, weights=w, init=base.coef).coef))
step = 1e-4 * y
weights_n = np.ones((n, n))
up = refit(y + np.diag(step), weights_n)  # row i: y with yᵢ + stepᵢ
down = refit(y - np.diag(step), weights_n)
finite_difference = np.asarray((up - down) / (2 * step[:, None])).T
error = np.max(np.abs(finite_difference - dcoef_dy))
print(f"max |autodiff − finite difference| = {error:.1e} (largest entry {np.abs(dcoef_dy).max():.1e})")
assert error < 1e-5 * np.abs(dcoef_dy).max()  # ~6 digits: refits stop at a tolerance, and quotients lose digits

# %% [markdown]
# ### Check 2: the formula, and why the *observed* Hessian
#
# For the Gamma family with a log link the score of row i is wᵢ(yᵢ/μᵢ − 1)xᵢ, so
# ∂S/∂yᵢ = wᵢxᵢ/μᵢ and the observed Hessian is H = −Xᵀ diag(w y/μ) X. Hence
# dβ̂/dy = (Xᵀ diag(y/μ̂) X)⁻¹ Xᵀ diag(1/μ̂). The *expected* information Xᵀ diag(w) X
# (the matrix IRLS solves with) replaces y/μ̂ by its expectation 1. For a canonical
# link the two matrices are the same; the log link is not canonical for the Gamma
# family, so here they differ, and only the observed one gives the derivative of β̂.

# %%
mu = np.asarray(base.mu)
observed = np.linalg.solve(X.T @ (X * (y / mu)[:, None]), (X / mu[:, None]).T)
expected = np.linalg.solve(X.T @ X, (X / mu[:, None]).T)
print(f"max |autodiff − observed-Hessian formula| = {np.max(np.abs(dcoef_dy - observed)):.1e}")
print(f"max |autodiff − expected-information formula| = {np.max(np.abs(dcoef_dy - expected)):.1e}")
assert np.allclose(dcoef_dy, observed, rtol=1e-8, atol=1e-12)

# %% [markdown]
# ## The influence of each observation
#
# How much does row i move the estimates? Exactly: refit without it (weight 0) and
# take β̂ − β̂₍₋ᵢ₎ (R's "dfbeta" asks this question). That is n refits: the same
# vmapped function, with the identity subtracted from the weights. Two linear
# approximations answer it without refitting:
#
# - **the infinitesimal jackknife**: dβ̂/dwᵢ from the Jacobian above (moving wᵢ from 1
#   to 0 changes β̂ by about −dβ̂/dwᵢ);
# - **R's `dfbeta`**, one IRLS step from β̂ without row i:
#   (XᵀWX)⁻¹ xᵢ Wᵢ rᵢ / (1 − hᵢ), with working weights W (here all 1), working residuals
#   r = (y − μ̂)/μ̂ and leverages h. The 1/(1 − h) is the correction for removing a row
#   rather than nudging it.

# %%
leave_one_out = refit(np.tile(y, (n, 1)), 1.0 - np.eye(n))
exact = np.asarray(base.coef) - np.asarray(leave_one_out)
jackknife = np.asarray(dcoef_dw).T
bread = np.linalg.inv(X.T @ X)
leverage = np.einsum("ij,jk,ik->i", X, bread, X)
dfbeta = (X @ bread) * ((y - mu) / mu / (1 - leverage))[:, None]

top = np.argsort(-np.abs(exact[:, 1]))[:5]
print("most influential rows for the damage slope:")
print(f"{'row':>5s}{'y':>8s}{'exact':>10s}{'jackknife':>11s}{'dfbeta':>10s}")
for i in top:
    print(f"{i:5d}{y[i]:8.2f}{exact[i, 1]:10.4f}{jackknife[i, 1]:11.4f}{dfbeta[i, 1]:10.4f}")
for label, approx in (("jackknife", jackknife), ("dfbeta", dfbeta)):
    corr = [np.corrcoef(approx[:, j], exact[:, j])[0, 1] for j in range(3)]
    print(f"{label:9s} correlation with the exact refits, per coefficient: {np.round(corr, 4)}")
    assert min(corr) > 0.98

# %% [markdown]
# Both approximations rank the rows as the exact refits do; both are off by some
# percent for the most influential rows, which is where a refit is worth its cost. The
# derivative is the cheap screen: one Jacobian for all rows, where exact deletion costs
# n fits.
#
# ## Tuning a hyperparameter by gradient
#
# The slope has drifted, so recent records deserve more weight. Weight record i by
# wᵢ(λ) = exp(−λ·ageᵢ): λ = 0 weighs all years alike (and estimates an average slope),
# a large λ keeps only the last months (and estimates a noisy one). Choose λ by the
# deviance on held-out records from the latest quarter. That is a function of λ
# through `fit`, so its gradient is exact, and gradient descent on log λ (λ stays
# positive) finds the best decay. The only refinement is the step size: grow it while
# steps help, halve it when one overshoots (no optimiser library needed).

# %%
validation_age = rng.uniform(0.0, 0.25, 300)
X_val, y_val = simulate(300, validation_age)


def held_out_deviance(log_decay):
    weights = jnp.exp(-jnp.exp(log_decay) * age)
    fitted = glm.fit(X, y, family, weights=weights, init=base.coef)
    mu_val = family.link.inverse(X_val @ fitted.coef)
    return family.deviance(y_val, mu_val) / y_val.shape[0]


value_and_grad = jax.jit(jax.value_and_grad(held_out_deviance))

log_decay = np.log(0.05)
value, grad = value_and_grad(log_decay)
learning_rate = 0.5 / abs(float(grad))  # a first step of length 0.5 in log λ
print(f"{'step':>4s}{'λ':>9s}{'held-out deviance':>19s}{'gradient':>11s}")
print(f"{0:4d}{np.exp(log_decay):9.4f}{float(value):19.6f}{float(grad):11.2e}")
for step_number in range(1, 21):
    candidate = log_decay - learning_rate * float(grad)
    candidate_value, candidate_grad = value_and_grad(candidate)
    if candidate_value < value:  # accept, and try a longer step next time
        log_decay, value, grad = candidate, candidate_value, candidate_grad
        learning_rate *= 1.5
        print(f"{step_number:4d}{np.exp(log_decay):9.4f}{float(value):19.6f}{float(grad):11.2e}")
    else:  # overshot: stay, and halve the step
        learning_rate /= 2
        print(f"{step_number:4d}{'':9s}{'(overshot: step halved)':>19s}")
best_decay = float(np.exp(log_decay))
print(f"chosen λ = {best_decay:.3f} per year: a record's weight halves every {np.log(2) / best_decay:.1f} years")

# %% [markdown]
# A coarse grid of the same function confirms that gradient descent found its
# minimum (each value is a fit; the jitted function is reused):

# %%
grid = [0.0, 0.1, 0.2, 0.4, 0.7, 1.0, 2.0]
grid_values = [float(value_and_grad(np.log(max(decay, 1e-8)))[0]) for decay in grid]
for decay, v in zip(grid, grid_values):
    print(f"λ = {decay:4.1f}: held-out deviance {v:.6f}")
assert float(value) <= min(grid_values) and abs(float(grad)) < 1e-4
weighted = glm.fit(X, y, family, weights=np.exp(-best_decay * age), coef_names=names)
print("damage slope: unweighted", round(float(base.coef[1]), 3), "| decayed", round(float(weighted.coef[1]), 3),
      "| today's true slope 0.7")

# %% [markdown]
# The same pattern tunes any continuous quantity that enters `fit` through X, y, the
# weights or the offset: a spline's knot position, a Box–Cox-like transform of a
# predictor, the exponent of an exposure.
#
# ## Many responses at once
#
# `jax.vmap` maps `fit` over a batch of responses (or weights, or designs), one IRLS
# per member, each with its own `status`. The vmapped refit above takes n responses;
# here n responses simulated from the fitted model, a parametric bootstrap in one call
# with no new compilation. The spread of the refitted coefficients is the standard
# error the summary printed.

# %%
dispersion = float(base.dispersion)
simulated = rng.gamma(1 / dispersion, mu * dispersion, size=(n, n))
refits = np.asarray(refit(simulated, weights_n))
print("sd of", n, "refits:", refits.std(0).round(4))
print("standard errors:   ", np.asarray(base.se).round(4))
assert np.allclose(refits.std(0), base.se, rtol=0.25)
