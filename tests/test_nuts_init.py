"""MLE-initialised NUTS: init_to_mle, mle_init, the Fisher mass matrix and nuts(), against fit.

Three short NUTS runs (module fixtures): a Poisson GLM with an unstandardised
predictor, a negative binomial with estimated α, and a Poisson model with random
intercepts.
"""

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.infer.util import potential_energy
from scipy import special

import numpyro_glm as glm
from numpyro_glm.init import _log_dispersion_variance


def block_model(X, y=None, *, family, **kwargs):
    return glm.glm("y", X, y, family=family, **kwargs)


def random_intercepts(X, group, num_groups, y=None):
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("groups", num_groups):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
    return glm.glm("y", X, y, family=glm.Poisson(), eta=sigma * z[group], coef_names=["(Intercept)", "x"])


@pytest.fixture(scope="module")
def poisson():
    rng = np.random.default_rng(1)
    n = 1000
    # One predictor on a large scale, off-centre: what defeats default NUTS.
    X = np.column_stack([np.ones(n), rng.normal(size=n), 50.0 + 10.0 * rng.normal(size=n)])
    y = rng.poisson(np.exp(X @ [0.8, 0.25, -0.01])).astype(float)
    return X, y, glm.fit(X, y, glm.Poisson())


@pytest.fixture(scope="module")
def poisson_mcmc(poisson):
    X, y, _ = poisson
    return glm.nuts(block_model, X, y, family=glm.Poisson(), num_warmup=100, num_samples=300, num_chains=2,
                    key=jax.random.PRNGKey(3), extra_fields=("num_steps",))


@pytest.fixture(scope="module")
def gaussian():
    # n = 40, p = 3, with weights: the shapes of test_model.py's weighted Gaussian fit,
    # so that the two files share one compilation of fit.
    rng = np.random.default_rng(2)
    n = 40
    X = np.column_stack([np.ones(n), rng.normal(2.0, 3.0, n), rng.uniform(size=n)])
    weights = rng.uniform(0.5, 2.0, n)
    y = X @ [1.0, 0.5, -2.0] + rng.normal(0.0, 1.5, n) / np.sqrt(weights)
    return X, y, weights, glm.fit(X, y, glm.Gaussian(), weights=weights)


@pytest.fixture(scope="module")
def random_intercepts_data():
    rng = np.random.default_rng(6)
    n, groups = 400, 10
    X, group = np.column_stack([np.ones(n), rng.normal(size=n)]), np.arange(n) % groups
    y = rng.poisson(np.exp(X @ [0.5, 0.3] + rng.normal(0, 0.7, groups)[group])).astype(float)
    return X, group, groups, y


@pytest.fixture(scope="module")
def negative_binomial():
    rng = np.random.default_rng(4)
    n = 1500
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    offset = np.log(rng.uniform(1.0, 3.0, n))
    mu, alpha = np.exp(X @ [0.5, 0.4] + offset), 0.5
    y = rng.negative_binomial(1 / alpha, 1 / (1 + alpha * mu)).astype(float)
    return X, y, offset, glm.fit(X, y, glm.NegativeBinomial(), offset=offset)


def _agree_with_the_mle(samples, coef, se):
    mean, sd = samples.mean(0), samples.std(0)
    ess = effective_sample_size(np.asarray(samples).reshape(2, -1, samples.shape[-1]))
    assert np.all(np.abs(mean - coef) < 4 * sd / np.sqrt(ess) + 0.1 * se), (mean, coef, se, ess)
    np.testing.assert_allclose(sd, se, rtol=0.2)


# --------------------------------------------------------------------------- init


def _initial_trace(model, *args, **kwargs):
    seeded = handlers.substitute(handlers.seed(model, 0), substitute_fn=glm.init_to_mle())
    return handlers.trace(seeded).get_trace(*args, **kwargs)


def test_init_to_mle_puts_the_mle_on_the_blocks_sites(gaussian):
    X, y, weights, fit = gaussian
    tr = _initial_trace(block_model, X, y, family=glm.Gaussian(), weights=weights)
    np.testing.assert_allclose(tr["y_coef"]["value"], fit.coef, rtol=1e-10)
    np.testing.assert_allclose(tr["y_dispersion"]["value"], fit.dispersion, rtol=1e-10)  # R's Pearson φ̂


@pytest.mark.slow  # fit's NB solver with estimated α takes ~20 s to compile on 2 cores
def test_negative_binomial_alpha_is_started_at_and_sampled_around_the_mle(negative_binomial):
    X, y, offset, fit = negative_binomial
    tr = _initial_trace(block_model, X, y, family=glm.NegativeBinomial(), offset=offset)
    np.testing.assert_allclose(tr["y_coef"]["value"], fit.coef, rtol=1e-10)
    np.testing.assert_allclose(tr["y_alpha"]["value"], fit.alpha, rtol=1e-10)
    kwargs = {"family": glm.NegativeBinomial(), "offset": offset}
    init = glm.mle_init(block_model, X, y, include_prior=False, jitter=0.0, **kwargs)
    m = np.asarray(init.inverse_mass_matrix[("y_alpha", "y_coef")])
    np.testing.assert_allclose(m[0, 0], (fit.alpha_se / fit.alpha) ** 2, rtol=1e-10)
    np.testing.assert_allclose(m[1:, 1:], fit.cov, rtol=1e-12)
    np.testing.assert_allclose(init.init_params["y_alpha"], np.log(fit.alpha), rtol=1e-12)  # unconstrained
    mcmc = glm.nuts(block_model, X, y, num_warmup=150, num_samples=300, num_chains=2, key=jax.random.PRNGKey(5),
                    **kwargs)
    samples = mcmc.get_samples()
    _agree_with_the_mle(samples["y_coef"], fit.coef, fit.se)
    _agree_with_the_mle(samples["y_alpha"][:, None], jnp.atleast_1d(fit.alpha), jnp.atleast_1d(fit.alpha_se))


def test_random_effects_start_from_the_fallback_and_the_block_is_fitted_given_them(random_intercepts_data):
    X, group, groups, y = random_intercepts_data
    z = np.linspace(-1, 1, groups)
    fallback = numpyro.infer.init_to_value(values={"sigma": 0.5, "z": z})
    init = glm.mle_init(random_intercepts, X, group, groups, y, init_strategy=fallback)
    np.testing.assert_allclose(init.values["y_coef"], glm.fit(X, y, glm.Poisson(), offset=0.5 * z[group]).coef,
                               rtol=1e-10)
    np.testing.assert_allclose(init.values["z"], z)
    assert init.mle_sites == ("y_coef",)


def test_mle_init_jitters_chains_by_the_laplace_approximation(poisson):
    X, y, fit = poisson
    init = glm.mle_init(block_model, X, y, family=glm.Poisson(), num_chains=40, key=jax.random.PRNGKey(7))
    starts = np.asarray(init.init_params["y_coef"])
    assert starts.shape == (40, 3)
    cov = np.asarray(init.inverse_mass_matrix[("y_coef",)])
    # Independent draws from N(β̂, Σ): squared Mahalanobis distances ~ χ²₃ (mean 3, sd of the mean 0.39).
    distance = np.einsum("ci,ij,cj->c", starts - fit.coef, np.linalg.inv(cov), starts - fit.coef)
    assert abs(distance.mean() - 3.0) < 4 * np.sqrt(6 / 40)
    energies = [potential_energy(block_model, (X, y), {"family": glm.Poisson()}, {"y_coef": s}) for s in starts[:3]]
    assert np.all(np.isfinite(energies))
    still = glm.mle_init(block_model, X, y, family=glm.Poisson(), num_chains=2, jitter=0.0)
    np.testing.assert_allclose(still.init_params["y_coef"], np.tile(fit.coef, (2, 1)), rtol=1e-12)


def test_a_separated_block_gets_a_finite_start_and_a_warning():
    X = np.column_stack([np.ones(30), np.linspace(-1.0, 1.0, 30)])
    y = (X[:, 1] > 0).astype(float)  # complete separation: the MLE diverges
    with pytest.warns(UserWarning, match="maximum-likelihood estimate does not exist"):
        init = glm.mle_init(block_model, X, y, family=glm.Bernoulli(), num_chains=2)
    assert glm.Status(int(init.fits["y"].status)) == glm.Status.SEPARATION
    starts = np.asarray(init.init_params["y_coef"])
    assert np.all(np.isfinite(starts)) and np.all(np.abs(starts) < 50)
    for start in starts:
        assert np.isfinite(potential_energy(block_model, (X, y), {"family": glm.Bernoulli()}, {"y_coef": start}))
    # No MLE: NUTS should adapt its metric (nuts() does when a site has no MLE).
    assert init.mle_sites == ()
    assert np.all(np.isfinite(init.inverse_mass_matrix[("y_coef",)]))


def test_mle_init_rejects_models_it_cannot_fit(poisson):
    X, y, _ = poisson
    with pytest.raises(ValueError, match="no numpyro_glm.glm block"):
        glm.mle_init(lambda: numpyro.sample("a", dist.Normal()))
    with pytest.raises(ValueError, match="no observed y"):
        glm.mle_init(block_model, X, None, family=glm.Poisson())
    with pytest.raises(ValueError, match="y must be non-negative counts"):
        glm.mle_init(block_model, X, -y, family=glm.Poisson())


# --------------------------------------------------------------------------- mass matrix


def test_mass_matrix_is_the_fit_covariance_in_numpyros_layout(gaussian):
    X, y, weights, fit = gaussian
    kwargs = {"family": glm.Gaussian(), "weights": weights}
    matrix = glm.mass_matrix_from_fit(fit, block_model, X, y, include_prior=False, **kwargs)
    assert list(matrix) == [("y_coef", "y_dispersion")]  # NumPyro's dense_mass=True block: sites sorted
    m = np.asarray(matrix[("y_coef", "y_dispersion")])
    np.testing.assert_allclose(m[:3, :3], fit.cov, rtol=1e-12)
    np.testing.assert_allclose(m[3, 3], 2.0 / (len(y) - 3), rtol=1e-12)  # Var(log σ̂²) = 2/df
    np.testing.assert_array_equal(m[:3, 3], 0.0)
    # With the prior: the Laplace approximation (Σ⁻¹ + AᵀD⁻¹A)⁻¹, A mapping β to (the
    # intercept at centred predictors, the slopes) and D their prior variances.
    prior = glm.default_priors(X, y, glm.Gaussian(), weights=weights).coef
    A = np.eye(3)
    A[0, 1:] = np.average(X[:, 1:], axis=0, weights=weights)
    D = np.r_[prior.intercept.scale, prior.slopes.scale[1:]] ** 2
    with_prior = np.asarray(glm.mass_matrix_from_fit(fit, block_model, X, y, **kwargs)[("y_coef", "y_dispersion")])
    expected = np.linalg.inv(np.linalg.inv(np.asarray(fit.cov)) + A.T @ np.diag(1 / D) @ A)
    np.testing.assert_allclose(with_prior[:3, :3], expected, rtol=1e-8)
    # mle_init gives the same matrix, and the centre in NUTS's unconstrained space.
    init = glm.mle_init(block_model, X, y, jitter=0.0, **kwargs)
    np.testing.assert_allclose(init.inverse_mass_matrix[("y_coef", "y_dispersion")], with_prior, rtol=1e-12)
    np.testing.assert_allclose(init.init_params["y_dispersion"], np.log(fit.dispersion), rtol=1e-12)


def test_mass_matrix_puts_log_alpha_first_in_sorted_order(poisson):
    X, y, fit = poisson
    # A negative binomial fit made from the Poisson one (the matrix only reads the fit).
    nb = dataclasses.replace(fit, family=glm.NegativeBinomial(), alpha=jnp.asarray(0.4), alpha_se=jnp.asarray(0.05))
    matrix = glm.mass_matrix_from_fit(nb, block_model, X, y, family=glm.NegativeBinomial(), include_prior=False)
    m = np.asarray(matrix[("y_alpha", "y_coef")])
    np.testing.assert_allclose(m[0, 0], (0.05 / 0.4) ** 2, rtol=1e-12)  # delta method: Var(log α̂)
    np.testing.assert_allclose(m[1:, 1:], fit.cov, rtol=1e-12)
    np.testing.assert_array_equal(m[0, 1:], 0.0)


def test_gamma_log_dispersion_variance_is_the_inverse_fisher_information(gaussian):
    _, y, _, fit = gaussian
    for phi in (0.05, 0.5, 2.0):
        gamma_fit = dataclasses.replace(fit, family=glm.Gamma(link="log"), dispersion=jnp.asarray(phi))
        k, df = 1 / phi, len(y) - 3
        expected = 1.0 / (df * k**2 * (special.polygamma(1, k) - 1 / k))  # Var(log k̂), k the shape
        np.testing.assert_allclose(_log_dispersion_variance(gamma_fit), expected, rtol=1e-4)


# --------------------------------------------------------------------------- nuts


def test_nuts_posterior_agrees_with_the_mle_for_large_n(poisson, poisson_mcmc):
    _, _, fit = poisson
    samples = poisson_mcmc.get_samples()["y_coef"]
    assert samples.shape == (600, 3)
    _agree_with_the_mle(samples, fit.coef, fit.se)
    grouped = poisson_mcmc.get_samples(group_by_chain=True)["y_coef"]
    assert np.all(split_gelman_rubin(grouped) < 1.05)
    # Started at the answer with the Fisher metric: a handful of leapfrog steps per draw.
    assert poisson_mcmc.get_extra_fields()["num_steps"].mean() < 16
    assert isinstance(poisson_mcmc.mle_init, glm.MLEInit)


def test_nuts_fits_random_intercepts_like_the_fixed_effects_model(random_intercepts_data):
    import statsmodels.api as sm

    X, group, groups, y = random_intercepts_data
    mcmc = glm.nuts(random_intercepts, X, group, groups, y, num_warmup=250, num_samples=150, num_chains=2,
                    key=jax.random.PRNGKey(8))
    samples = mcmc.get_samples()
    # 40 rows per group: the random intercepts are barely shrunk, so the slope and the
    # group means are those of the fixed-effects model (one dummy per group).
    dummies = sm.GLM(y, np.column_stack([np.eye(groups)[group], X[:, 1]]), family=sm.families.Poisson()).fit()
    slope = samples["y_coef"][:, 1]
    assert abs(slope.mean() - dummies.params[-1]) < 0.25 * dummies.bse[-1] + 4 * slope.std() / np.sqrt(50)
    intercepts = samples["y_coef"][:, :1] + samples["sigma"][:, None] * samples["z"]
    np.testing.assert_allclose(intercepts.mean(0), dummies.params[:groups], atol=0.12)
    assert np.all(split_gelman_rubin(mcmc.get_samples(group_by_chain=True)["y_coef"]) < 1.1)
    # The matrix: Fisher for the coefficients, the identity for the sites the MLE leaves out.
    m = np.asarray(mcmc.mle_init.inverse_mass_matrix[("sigma", "y_coef", "z")])
    np.testing.assert_allclose(np.diag(m)[[0, *range(3, 3 + groups)]], 1.0)


@pytest.mark.slow  # importing ArviZ costs ~4 s; the tutorial exercises the same path
def test_arviz_labels_name_the_coefficients(poisson, poisson_mcmc):
    import arviz as az

    X, y, _ = poisson
    labels = glm.arviz_labels(block_model, X, y, family=glm.Poisson(), coef_names=["(Intercept)", "x", "z"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = az.from_numpyro(poisson_mcmc, **labels)
    assert list(idata.posterior["y_coef"].coords["y_coef_dim"].values) == ["(Intercept)", "x", "z"]


def test_mapped_chains_draw_what_numpyros_sequential_chains_draw(gaussian):
    """The default chain method (one lax.map, compiled once) is NumPyro's "sequential"
    run, draw for draw."""
    X, y, weights, _ = gaussian
    kwargs = dict(family=glm.Gaussian(), weights=weights, num_warmup=20, num_samples=20, num_chains=2,
                  key=jax.random.PRNGKey(7), extra_fields=("num_steps",))
    mapped = glm.nuts(block_model, X, y, **kwargs)
    sequential = glm.nuts(block_model, X, y, chain_method="sequential", **kwargs)
    for site, draws in mapped.get_samples(group_by_chain=True).items():
        assert draws.shape[:2] == (2, 20)
        np.testing.assert_allclose(draws, sequential.get_samples(group_by_chain=True)[site], rtol=1e-12, err_msg=site)
    np.testing.assert_array_equal(mapped.get_extra_fields()["num_steps"], sequential.get_extra_fields()["num_steps"])
