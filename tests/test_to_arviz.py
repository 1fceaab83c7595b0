"""ArviZ conversions and plots (``numpyro_glm.to_arviz``).

Oracles: the log-likelihood group against scipy's Poisson pmf at every draw; the
comparison table against numpy on the raw draws. The data are those of
tests/test_bootstrap.py's ``overdispersed`` fixture (same shapes, family and
bootstrap settings), so a session running both files compiles the fit and the
bootstrap once: counts with Var = μ + μ², fitted as Poisson, where the pairs
bootstrap sd is ~1.9× the posterior sd.
"""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from numpyro.infer import MCMC, NUTS
from scipy import stats

import numpyro_glm as glm
from numpyro_glm.bootstrap import BootstrapResult

matplotlib.use("Agg")
az = pytest.importorskip("arviz")

NAMES = ["(Intercept)", "x", "group"]
CHAINS, DRAWS = 2, 200


def model(X, y=None):
    glm.glm("y", X, y, family=glm.Poisson(), coef_names=NAMES)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 2000
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, size=n)]).astype(float)
    y = rng.poisson(rng.gamma(1.0, np.exp(X @ [0.8, 0.4, -0.3]))).astype(float)
    return X, y


@pytest.fixture(scope="module")
def mcmc(data):
    X, y = data
    # Plain NUTS: compiles less than glm.nuts (MLE start, dense metric); the
    # conversion does not care how the draws were made. Chains in one lax.map: one
    # compilation for all of them.
    sampler = MCMC(NUTS(model), num_warmup=150, num_samples=DRAWS, num_chains=CHAINS,
                   chain_method=lambda run_chain: lambda keys: jax.lax.map(run_chain, keys), progress_bar=False)
    sampler.run(jax.random.key(0), X, y)
    return sampler


@pytest.fixture(scope="module")
def predictive_draws(mcmc, data):
    """y_rep (chains, draws, n): Poisson draws at each posterior draw's mean (numpy, not NumPyro)."""
    X, _ = data
    coef = np.asarray(mcmc.get_samples(group_by_chain=True)["y_coef"])
    return np.random.default_rng(0).poisson(np.exp(coef @ X.T)).astype(float)


@pytest.fixture(scope="module")
def idata(mcmc, predictive_draws):
    return glm.to_inference_data(mcmc, posterior_predictive={"y": predictive_draws})


@pytest.fixture(scope="module")
def idata_boot(data):
    X, y = data
    boot = glm.bootstrap(X, y, glm.Poisson(), n_boot=1000, key=jax.random.key(3), coef_names=NAMES)
    return glm.bootstrap_to_inference_data(boot)


def test_inference_data_has_named_coefficients_and_all_groups(idata, data, predictive_draws):
    X, y = data
    for group in ("posterior", "sample_stats", "observed_data", "log_likelihood", "posterior_predictive"):
        assert group in idata.groups()
    coef = idata.posterior["y_coef"]
    assert coef.dims == ("chain", "draw", "y_coef_dim") and coef.shape == (CHAINS, DRAWS, 3)
    assert list(coef.coords["y_coef_dim"].values) == NAMES
    np.testing.assert_array_equal(idata.observed_data["y"].values, y)
    assert idata.observed_data["y"].dims == ("y_rows",)
    assert idata.posterior_predictive["y"].dims == ("chain", "draw", "y_rows")
    np.testing.assert_array_equal(idata.posterior_predictive["y"].values, predictive_draws)


def test_log_likelihood_is_the_poisson_pmf_at_each_draw(idata, data):
    X, y = data
    coef = idata.posterior["y_coef"].values
    expected = stats.poisson.logpmf(y, np.exp(coef @ X.T))
    np.testing.assert_allclose(idata.log_likelihood["y"].values, expected, rtol=1e-10)


def test_summary_loo_and_ppc_plot_work(idata):
    summary = az.summary(idata, var_names=["y_coef"])
    assert list(summary.index) == [f"y_coef[{n}]" for n in NAMES]
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo) and loo.n_data_points == 2000
    import matplotlib.pyplot as plt

    ax = az.plot_ppc(idata, num_pp_samples=20, random_seed=0)
    assert ax.get_figure() is not None
    plt.close("all")


def test_predictive_draws_in_flat_layout_or_in_a_samples_attribute(mcmc, predictive_draws, idata):
    flat = predictive_draws.reshape(CHAINS * DRAWS, -1)
    holder = types.SimpleNamespace(samples={"y": jnp.asarray(predictive_draws)})
    for given in ({"y": flat}, holder):
        other = glm.to_inference_data(mcmc, posterior_predictive=given, log_likelihood=False)
        assert "log_likelihood" not in other.groups()
        np.testing.assert_array_equal(other.posterior_predictive["y"].values, predictive_draws)


def test_bad_predictive_shapes_and_names_are_refused(mcmc, predictive_draws):
    with pytest.raises(ValueError, match=r"posterior_predictive\['y'\] has shape"):
        glm.to_inference_data(mcmc, posterior_predictive={"y": predictive_draws[:, :10]})
    with pytest.raises(ValueError, match="coef_names for 'y_coef' has 2 names for 3"):
        glm.to_inference_data(mcmc, coef_names=["a", "b"])
    with pytest.raises(ValueError, match="coefficient sites are"):
        glm.to_inference_data(mcmc, coef_names={"mu": ["a", "b", "c"]})
    renamed = glm.to_inference_data(mcmc, coef_names={"y": ["a", "b", "c"]}, log_likelihood=False)
    assert list(renamed.posterior["y_coef_dim"].values) == ["a", "b", "c"]


def test_bootstrap_group_matches_the_posterior_layout(idata, idata_boot):
    coef = idata_boot.posterior["y_coef"]
    assert coef.dims == ("chain", "draw", "y_coef_dim") and coef.shape == (1, 1000, 3)
    assert list(coef.coords["y_coef_dim"].values) == NAMES
    assert idata_boot.posterior.attrs["bootstrap_kind"] == "pairs"
    assert az.summary(idata_boot, kind="stats").shape == (3, 4)


def test_bootstrap_group_keeps_only_converged_replicates_and_follows_the_block_name():
    coef = np.arange(12.0).reshape(4, 3)
    boot = BootstrapResult(coef=jnp.asarray(coef), dispersion=jnp.asarray([1.0, 2.0, 3.0, 4.0]), alpha=None,
                           converged=jnp.asarray([True, False, True, True]), status=jnp.asarray([0, 2, 0, 0]),
                           n_iter=jnp.zeros(4, jnp.int32), fit=None, kind="bayesian", coef_names=("a", "b", "c"))
    idata = glm.bootstrap_to_inference_data(boot, name="mu")
    np.testing.assert_array_equal(idata.posterior["mu_coef"].values[0], coef[[0, 2, 3]])
    np.testing.assert_array_equal(idata.posterior["mu_dispersion"].values[0], [1.0, 3.0, 4.0])
    assert idata.posterior["mu_coef"].dims[-1] == "mu_coef_dim"
    assert idata.posterior.attrs["n_failed"] == 1
    with pytest.raises(ValueError, match="coef_names has 2 names for 3"):
        glm.bootstrap_to_inference_data(boot, ["a", "b"])
    none = BootstrapResult(coef=boot.coef, dispersion=None, alpha=None, converged=jnp.zeros(4, bool),
                           status=boot.status, n_iter=boot.n_iter, fit=None)
    with pytest.raises(ValueError, match="none of the 4 bootstrap replicates converged"):
        glm.bootstrap_to_inference_data(none)


def test_comparison_table_against_numpy(idata, idata_boot):
    table = glm.compare_bootstrap_posterior(idata, idata_boot)
    assert list(table.columns) == ["variable", "coefficient", "source", "mean", "sd", "2.5%", "97.5%", "sd_ratio"]
    assert list(table["coefficient"]) == [n for n in NAMES for _ in range(2)]
    post = idata.posterior["y_coef"].values.reshape(-1, 3)
    boot = idata_boot.posterior["y_coef"].values.reshape(-1, 3)
    for source, draws in (("posterior", post), ("bootstrap", boot)):
        rows = table[table["source"] == source]
        np.testing.assert_allclose(rows["mean"], draws.mean(0), rtol=1e-12)
        np.testing.assert_allclose(rows["sd"], draws.std(0, ddof=1), rtol=1e-12)
        np.testing.assert_allclose(rows[["2.5%", "97.5%"]].T, np.quantile(draws, [0.025, 0.975], axis=0), rtol=1e-12)
    ratio = boot.std(0, ddof=1) / post.std(0, ddof=1)
    np.testing.assert_allclose(table["sd_ratio"].values[::2], ratio, rtol=1e-12)
    # Overdispersed counts: the Poisson posterior is too narrow, the bootstrap is not.
    assert np.all(ratio > 1.4)
    with pytest.raises(ValueError, match="var_names: 'nope'"):
        glm.compare_bootstrap_posterior(idata, idata_boot, var_names=["nope"])


def test_comparison_plot_renders_headless_and_saves(idata, idata_boot, tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    path = tmp_path / "compare.png"
    fig = glm.plot_bootstrap_vs_posterior(idata, idata_boot, path=path)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert path.stat().st_size > 10_000
    assert len(fig.axes) >= 4  # the forest and one density per coefficient
    assert plt.get_fignums() == before  # no pyplot figure left open
