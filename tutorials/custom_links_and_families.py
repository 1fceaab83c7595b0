# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       format_name: percent
# ---

# %% [markdown]
# # Custom links and families
#
# numpyro_glm ships R's links and families, and lets you add your own: a link from
# just a forward function and its inverse (the derivatives come from autodiff), and
# a family as a small subclass. Both then work everywhere the built-ins do: under
# `jax.jit`, in the registries, and in `numpyro.sample`.
#
# Run it as a script (`python tutorials/custom_links_and_families.py`) or open it in
# Jupyter with jupytext. `NUMPYRO_GLM_TUTORIAL_SMALL=1` shrinks it (the test suite
# does that).

# %%
import os

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS

import numpyro_glm as glm
from numpyro_glm import families, links

jax.config.update("jax_enable_x64", True)  # a tutorial may; the library never does
SMALL = os.environ.get("NUMPYRO_GLM_TUTORIAL_SMALL") == "1"
print("links:", links.available())
print("families:", families.available())

# %% [markdown]
# ## The built-in links
#
# Every link has `link(mu)`, `inverse(eta)`, `deriv(mu)` = dη/dμ, `inverse_deriv(eta)`
# and `deriv2(mu)`. Inverses are clipped as in R, so even absurd linear predictors
# give a finite mean and finite derivatives:

# %%
eta = jnp.array([-1e3, -2.0, 0.0, 2.0, 1e3])
for name in ["logit", "probit", "cloglog", "log"]:
    link = links.get(name)
    mu = link.inverse(eta)
    print(f"{name:8s} mu = {np.array2string(np.asarray(mu), precision=3)}  dη/dμ finite: {bool(jnp.all(jnp.isfinite(link.deriv(mu))))}")

# %% [markdown]
# ## A link of your own: Aranda-Ordaz's asymmetric link
#
# For binary data whose probability rises faster than it falls, Aranda-Ordaz (1981)
# proposed μ = 1 − (1 + λ e^η)^(−1/λ); λ = 1 is the logit, λ → 0 the cloglog. We give
# only the forward map and its inverse: `CustomLink` differentiates them.

# %%
LAMBDA = 0.5


def aranda_ordaz(mu):
    return jnp.log((jnp.power(1.0 - mu, -LAMBDA) - 1.0) / LAMBDA)


def aranda_ordaz_inverse(eta):
    return 1.0 - jnp.power(1.0 + LAMBDA * jnp.exp(eta), -1.0 / LAMBDA)


ao = links.register("aranda_ordaz", links.CustomLink("aranda_ordaz", aranda_ordaz, aranda_ordaz_inverse), overwrite=True)
mu = jnp.linspace(0.05, 0.95, 5)
step = 1e-6
finite_difference = (ao(mu + step) - ao(mu - step)) / (2 * step)
print("autodiff dη/dμ:   ", np.asarray(ao.deriv(mu)).round(5))
print("finite difference:", np.asarray(finite_difference).round(5))
assert np.allclose(ao.deriv(mu), finite_difference, rtol=1e-6)

# %% [markdown]
# Any family accepts a `CustomLink` (as R accepts any `link-glm` object): choosing a
# sensible one is up to you. It is now also reachable by name.

# %%
bernoulli_ao = glm.Bernoulli(link="aranda_ordaz")
print(bernoulli_ao)

# %% [markdown]
# ## ... used in a NumPyro model
#
# `family.distribution(mu)` is a NumPyro distribution, so the likelihood of a
# hand-written model is one line.

# %%
n = 400 if SMALL else 2000
key_x, key_y, key_mcmc = jax.random.split(jax.random.PRNGKey(0), 3)
X = jnp.column_stack([jnp.ones(n), jax.random.normal(key_x, (n,))])
true_coef = jnp.array([-0.5, 1.0])
y = bernoulli_ao.distribution(ao.inverse(X @ true_coef)).sample(key_y)


def model(X, y=None):
    coef = numpyro.sample("coef", dist.Normal(0.0, 2.5).expand([2]).to_event(1))
    with numpyro.plate("rows", X.shape[0]):
        numpyro.sample("y", bernoulli_ao.distribution(bernoulli_ao.link.inverse(X @ coef)), obs=y)


draws = 200 if SMALL else 1000
mcmc = MCMC(NUTS(model), num_warmup=draws, num_samples=draws, progress_bar=False)
mcmc.run(key_mcmc, X, y)
posterior_mean = mcmc.get_samples()["coef"].mean(0)
print("true:", np.asarray(true_coef), " posterior mean:", np.asarray(posterior_mean).round(3))

# %% [markdown]
# ## A family of your own
#
# A family is a small subclass: set the class attributes (name, default and allowed
# links, whether the dispersion is free) and override what differs. Here is R's
# `quasipoisson`: Poisson's variance and deviance, but a free dispersion φ, so
# Var(y) = φμ. Registered, it is available by name.

# %%
class QuasiPoisson(glm.Poisson):
    """Poisson mean and variance function with a free dispersion (R's quasipoisson)."""

    name = "quasipoisson"
    has_free_dispersion = True

    def log_prob(self, y, mu, dispersion=1.0, weights=None, trials=None):
        raise NotImplementedError("a quasi-family has no likelihood (R's AIC is NA too)")


families.register("quasipoisson", QuasiPoisson, overwrite=True)
quasi = families.get("quasipoisson", link="sqrt")
counts = jnp.array([0.0, 3.0, 8.0, 1.0])
means = jnp.array([1.0, 2.5, 6.0, 1.5])
print(quasi, "deviance:", float(quasi.deviance(counts, means)))
# The Pearson estimate of φ, as R's summary.glm would compute it for a fitted model:
pearson = float(jnp.sum((counts - means) ** 2 / quasi.variance(means)))
print("Pearson chi2:", round(pearson, 3))
