"""Chunked posterior predictive checks, log-likelihood and quantile residuals.

Oracles: exact Poisson distributions of the statistics (scipy.stats) when the
'posterior' is a point mass at a known rate; NumPyro's own log_likelihood; scipy's
distribution functions for the residuals. Tolerances are 4.5 Monte Carlo standard
errors of the number of draws used.
"""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from scipy import stats

import numpyro_glm as glm
from numpyro_glm import log_likelihood, posterior_predictive, quantile_residuals

KEY = jax.random.PRNGKey(0)
Z = 4.5  # Monte Carlo standard errors allowed


def poisson_model(y):
    rate = numpyro.sample("rate", dist.Gamma(2.0, 1.0))
    with numpyro.plate("rows", len(y)):
        numpyro.sample("y", dist.Poisson(rate), obs=y)


def glm_poisson(X, y=None):
    glm.glm("y", X, y, family=glm.Poisson())


def design(n, dtype=np.float64):
    return np.column_stack([np.ones(n), np.linspace(-1.0, 1.0, n)]).astype(dtype)


# --------------------------------------------------------------------------- statistics against theory


@pytest.fixture(scope="module")
def point_mass_ppc():
    """A Poisson(μ) model whose 'posterior' is μ itself: every T(y_rep) has a known law."""
    mu, n, draws = 1.3, 20, 3000
    y = np.array([0, 1, 2, 0, 1, 3, 1, 0, 2, 1, 1, 0, 4, 2, 1, 0, 1, 2, 1, 1], float)
    ppc = posterior_predictive(
        poisson_model, {"rate": np.full(draws, mu)}, y=y, key=KEY,
        statistics=["mean", "var", "max", "prop_zeros"],
    )
    return ppc, mu, n, draws, y


def test_replicated_mean_has_mean_mu_and_variance_mu_over_n(point_mass_ppc):
    ppc, mu, n, draws, _ = point_mass_ppc
    rep = ppc.statistics["mean"].replicated
    assert rep.shape == (draws,)
    assert abs(rep.mean() - mu) < Z * np.sqrt(mu / n / draws)
    # Var of a sample variance: σ⁴ (2/(D-1) + γ₂/D), the mean of n Poisson nearly normal (γ₂ = 1/(nμ)).
    var_of_var = (mu / n) ** 2 * (2 / (draws - 1) + 1 / (n * mu) / draws)
    assert abs(rep.var(ddof=1) - mu / n) < Z * np.sqrt(var_of_var)


def test_replicated_variance_is_unbiased_for_mu(point_mass_ppc):
    ppc, mu, n, draws, _ = point_mass_ppc
    rep = ppc.statistics["var"].replicated
    var_s2 = mu**2 * (2 / (n - 1) + (1 / mu) / n)  # Var(s²) with Poisson excess kurtosis 1/μ
    assert abs(rep.mean() - mu) < Z * np.sqrt(var_s2 / draws)


def test_replicated_proportion_of_zeros_has_mean_exp_minus_mu(point_mass_ppc):
    ppc, mu, n, draws, _ = point_mass_ppc
    p0 = np.exp(-mu)
    assert abs(ppc.statistics["prop_zeros"].replicated.mean() - p0) < Z * np.sqrt(p0 * (1 - p0) / n / draws)


def test_replicated_max_follows_the_law_of_the_maximum(point_mass_ppc):
    ppc, mu, n, draws, _ = point_mass_ppc
    rep = ppc.statistics["max"].replicated
    for k in (2, 3, 4):
        exact = stats.poisson.cdf(k, mu) ** n  # P(max ≤ k) = F(k)ⁿ
        assert abs(np.mean(rep <= k) - exact) < Z * np.sqrt(exact * (1 - exact) / draws) + 1e-12


def test_p_value_is_the_exact_tail_probability_of_the_statistic(point_mass_ppc):
    ppc, mu, n, draws, y = point_mass_ppc
    mean = ppc.statistics["mean"]
    assert mean.observed == pytest.approx(y.mean())
    exact = stats.poisson.sf(y.sum() - 1, n * mu)  # P(Σ y_rep ≥ Σ y): the ≥ convention
    assert abs(mean.p_value - exact) < Z * np.sqrt(exact * (1 - exact) / draws)
    ties = stats.poisson.pmf(y.sum(), n * mu)
    assert abs(mean.ties - ties) < Z * np.sqrt(ties * (1 - ties) / draws)
    assert mean.p_value_mid == pytest.approx(mean.p_value - mean.ties / 2)


def test_statistics_equal_the_same_functions_of_the_returned_replicates():
    y = np.array([0.0, 2.0, 1.0, 5.0, 0.0, 1.0])
    user = {"range": lambda r: r.max() - r.min()}
    ppc = posterior_predictive(
        poisson_model, {"rate": np.linspace(0.5, 3.0, 40)}, y=y, key=KEY,
        statistics=["sd", "median", "q25", "q95", user], return_samples=True,
    )
    rep = ppc.samples["y"].astype(float)
    np.testing.assert_allclose(ppc.statistics["sd"].replicated, rep.std(axis=1, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(ppc.statistics["median"].replicated, np.median(rep, axis=1), rtol=1e-12)
    np.testing.assert_allclose(ppc.statistics["q25"].replicated, np.quantile(rep, 0.25, axis=1), rtol=1e-12)
    np.testing.assert_allclose(ppc.statistics["q95"].replicated, np.quantile(rep, 0.95, axis=1), rtol=1e-12)
    np.testing.assert_allclose(ppc.statistics["range"].replicated, np.ptp(rep, axis=1), rtol=1e-12)
    assert ppc.statistics["range"].observed == 5.0
    assert ppc.statistics["q95"].observed == pytest.approx(np.quantile(y, 0.95))
    table = ppc.summary()
    assert "range" in table and "p-value" in table and "≥" in table
    assert repr(ppc) == table


# --------------------------------------------------------------------------- chunking, keys, shapes


def test_results_do_not_depend_on_batch_size_or_on_grouping_by_chain_and_mcmc_objects_keep_chains():
    y = np.array([1.0, 0.0, 3.0])
    rates = np.linspace(0.5, 4.0, 30)
    runs = [posterior_predictive(poisson_model, {"rate": rates}, y=y, key=KEY, batch_size=b, statistics=["max"],
                                 return_samples=True) for b in (1, 7)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run.samples["y"], runs[0].samples["y"])
        np.testing.assert_array_equal(run.statistics["max"].replicated, runs[0].statistics["max"].replicated)
    # Replicates are fresh draws, not the observed data, and differ between draws.
    assert not np.all(runs[0].samples["y"] == y)
    assert len({tuple(r) for r in runs[0].samples["y"]}) > 10

    # (chains, draws, ...) keeps its chain axis; draw (c, d) is flat draw c·D + d. An MCMC
    # object gives its draws grouped by chain (a grouped dict: the log-likelihood test).
    class FakeMCMC:  # all posterior_predictive uses of numpyro.infer.MCMC
        def get_samples(self, group_by_chain=False):
            return {"rate": rates.reshape(3, 10) if group_by_chain else rates}

    grouped = posterior_predictive(poisson_model, FakeMCMC(), y=y, key=KEY, statistics=["max"], return_samples=True)
    assert grouped.samples["y"].shape == (3, 10, 3)
    assert grouped.statistics["max"].replicated.shape == (3, 10)
    assert grouped.draw_shape == (3, 10)
    np.testing.assert_array_equal(grouped.samples["y"].reshape(30, 3), runs[0].samples["y"])


def test_freed_heap_is_given_back_after_every_chunk_is_dispatched(monkeypatch):
    # After the first dispatch this returns the compiler's freed memory before the
    # replicates fill the host array (heap.py says why; ppc_speed.py measures it).
    from numpyro_glm import predictive

    calls = []
    monkeypatch.setattr(predictive, "release_freed_heap", lambda: calls.append(1))
    posterior_predictive(poisson_model, {"rate": np.linspace(0.5, 4.0, 30)}, y=np.array([1.0, 0.0]), key=KEY,
                         batch_size=7)
    assert len(calls) == 5  # ceil(30 / 7) chunks


def test_glm_block_model_replicates_its_observed_site_without_rewriting():
    n, draws = 8, 2000
    X = design(n)
    beta = np.array([0.5, 0.8])
    y = np.array([0.0, 1.0, 0.0, 2.0, 1.0, 3.0, 2.0, 5.0])
    # Deterministic and observed entries in the samples are recomputed, as Predictive does.
    samples = {"y_coef": np.tile(beta, (draws, 1)), "y": np.zeros((draws, n))}
    ppc = posterior_predictive(glm_poisson, samples, X, y=y, key=KEY, batch_size=256)
    rep = ppc.samples["y"]
    assert rep.shape == (draws, n)
    mu = np.exp(X @ beta)
    assert np.all(np.abs(rep.mean(0) - mu) < Z * np.sqrt(mu / draws))
    np.testing.assert_array_equal(ppc.observed["y"], y)


def test_glm_gaussian_block_replicates_with_each_draws_dispersion():
    n, draws = 6, 1500
    X = design(n)
    y = np.linspace(-1.0, 2.0, n)

    def model(X, y=None):
        glm.glm("y", X, y, family=glm.Gaussian())

    phi = np.where(np.arange(draws) < draws // 2, 0.25, 4.0)  # half the draws each
    samples = {"y_coef": np.tile([1.0, 0.0], (draws, 1)), "y_dispersion": phi}
    ppc = posterior_predictive(model, samples, X, y=y, key=KEY, statistics={"centred": lambda r: jnp.mean((r - 1.0) ** 2)})
    rep = ppc.statistics["centred"].replicated
    # mean of n squared N(0, φ) deviations: mean φ, variance 2φ²/n.
    for value in (0.25, 4.0):
        part = rep[phi == value]
        assert abs(part.mean() - value) < Z * np.sqrt(2 * value**2 / n / part.size)


# --------------------------------------------------------------------------- log-likelihood


def test_log_likelihood_equals_numpyros_for_grouped_draws():
    n = 7
    X = design(n)
    y = np.array([0.0, 1.0, 0.0, 2.0, 1.0, 3.0, 2.0])

    def model(X, y=None):
        glm.glm("y", X, y, family=glm.NegativeBinomial())  # α estimated: a second latent site

    rng = np.random.default_rng(1)
    samples = {"y_coef": rng.normal(0.3, 0.2, (2, 9, 2)), "y_alpha": rng.uniform(0.2, 2.0, (2, 9))}
    ours = log_likelihood(model, samples, X, y=y, batch_size=4)
    reference = numpyro.infer.log_likelihood(model, samples, X, y=y, batch_ndims=2)
    assert ours["y"].shape == (2, 9, n)
    np.testing.assert_allclose(ours["y"], np.asarray(reference["y"]), rtol=1e-12)


def test_float32_draws_give_float32_statistics_and_log_likelihood():
    X = design(5, np.float32)
    y = np.array([0.0, 1.0, 1.0, 2.0, 4.0], np.float32)
    samples = {"y_coef": np.tile(np.array([0.2, 0.9], np.float32), (12, 1))}
    ppc = posterior_predictive(glm_poisson, samples, X, y=y, key=KEY, statistics=["mean"])
    assert ppc.statistics["mean"].replicated.dtype == np.float32
    # (NumPyro's Poisson log_prob is float64 under x64 whatever its rate's dtype: kept as is.)
    ll = log_likelihood(glm_poisson, samples, X, y=y)
    np.testing.assert_allclose(ll["y"][0], stats.poisson.logpmf(y, np.exp(X.astype(float) @ [0.2, 0.9])), rtol=1e-5)


# --------------------------------------------------------------------------- quantile residuals


def test_quantile_residuals_of_a_gaussian_block_are_the_standardised_residuals():
    n = 5
    X = design(n)
    y = np.array([0.3, -1.0, 0.5, 2.0, 1.1])

    def model(X, y=None):
        glm.glm("y", X, y, family=glm.Gaussian())

    coef = np.array([[0.0, 1.0], [0.5, 0.0], [1.0, -1.0]])
    phi = np.array([1.0, 0.25, 4.0])
    r = quantile_residuals(model, {"y_coef": coef, "y_dispersion": phi}, X, y=y, batch_size=2)
    expected = (y - coef @ X.T) / np.sqrt(phi)[:, None]
    np.testing.assert_allclose(r["y"], expected, rtol=1e-8, atol=1e-10)


def test_quantile_residuals_of_counts_lie_between_the_normal_scores_of_the_cdf_jumps():
    y = np.array([0.0, 2.0, 1.0, 6.0])
    rates = np.array([0.5, 1.0, 3.0])
    expected_lower = stats.norm.ppf(stats.poisson.cdf(y - 1, rates[:, None]))
    expected_upper = stats.norm.ppf(stats.poisson.cdf(y, rates[:, None]))
    # A plain NumPyro site (its distribution's cdf) and a glm block (the family's cdf).
    plain = quantile_residuals(poisson_model, {"rate": rates}, y=y, key=KEY)["y"]
    X = np.ones((4, 1))
    block = quantile_residuals(glm_poisson, {"y_coef": np.log(rates)[:, None]}, X, y=y, key=KEY)["y"]
    for r in (plain, block):
        assert r.shape == (3, 4)
        assert np.all(r >= expected_lower - 1e-9) and np.all(r <= expected_upper + 1e-9)
    with pytest.raises(ValueError, match="key="):
        quantile_residuals(poisson_model, {"rate": rates}, y=y)


def test_quantile_residuals_say_when_no_distribution_function_exists():
    def model(X, y=None):
        glm.glm("y", X, y, family=glm.Tweedie(1.5))

    X = design(3)
    with pytest.raises(ValueError, match="distribution function"):
        quantile_residuals(model, {"y_coef": np.zeros((2, 2)), "y_dispersion": np.ones(2)}, X,
                           y=np.array([0.0, 1.0, 2.0]), key=KEY)


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True])
def test_batch_size_must_be_a_positive_integer(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        posterior_predictive(poisson_model, {"rate": np.ones(4)}, y=np.ones(3), key=KEY, batch_size=batch_size)


def test_unknown_statistic_names_list_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown statistic 'kurtosis'.*prop_zeros"):
        posterior_predictive(poisson_model, {"rate": np.ones(4)}, y=np.ones(3), key=KEY, statistics=["mean", "kurtosis"])
    with pytest.raises(ValueError, match="q00"):
        posterior_predictive(poisson_model, {"rate": np.ones(4)}, y=np.ones(3), key=KEY, statistics="q00")


def test_statistics_must_be_scalar():
    with pytest.raises(ValueError, match="'cumsum' must return a scalar"):
        posterior_predictive(poisson_model, {"rate": np.ones(4)}, y=np.ones(3), key=KEY,
                             statistics={"cumsum": jnp.cumsum})


def test_mismatched_draw_shapes_name_the_sites():
    def model(y=None):
        a = numpyro.sample("a", dist.Normal())
        b = numpyro.sample("b", dist.HalfNormal())
        numpyro.sample("y", dist.Normal(a, b), obs=y)

    with pytest.raises(ValueError, match=r"a: \(10,\), b: \(12,\)"):
        log_likelihood(model, {"a": np.zeros(10), "b": np.ones(12)}, y=1.0)
    with pytest.raises(ValueError, match=r"samples\['y_coef'\] has shape \(10, 3\)"):
        posterior_predictive(glm_poisson, {"y_coef": np.zeros((10, 3))}, design(4), y=np.ones(4), key=KEY)
    with pytest.raises(ValueError, match="none of the model's latent sites"):
        posterior_predictive(glm_poisson, {"beta": np.zeros((10, 2))}, design(4), y=np.ones(4), key=KEY)


def test_other_bad_arguments():
    draws = {"rate": np.ones(4)}
    with pytest.raises(ValueError, match="key must be a jax.random key"):
        posterior_predictive(poisson_model, draws, y=np.ones(3), key=None)
    with pytest.raises(ValueError, match="no observed site"):
        posterior_predictive(lambda: numpyro.sample("rate", dist.Gamma(2.0, 1.0)), draws, key=KEY)
    with pytest.raises(ValueError, match="nothing to compute"):
        posterior_predictive(poisson_model, draws, y=np.ones(3), key=KEY, return_samples=False)
    with pytest.raises(ValueError, match="batch_ndims"):
        posterior_predictive(poisson_model, draws, y=np.ones(3), key=KEY, batch_ndims=2)
