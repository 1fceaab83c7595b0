"""``numpyro_glm.bootstrap`` against independent oracles.

* pairs and Bayesian bootstrap SEs against statsmodels' sandwich (HC0) SEs on
  overdispersed counts fitted as Poisson, where the model SEs are ~1.9× too small:
  agreement with HC0 and disagreement with the model SE make the test decisive;
* parametric bootstrap percentile intervals cover the true slope at close to the
  nominal rate in a simulation (Gaussian, float32, to exercise that dtype);
* the replicate dispersion is on the original df (Gaussian: its mean ≈ φ̂);
* replicates that separate are counted, warned about and left out;
* batching does not change the replicates.

Compiling a vmapped fit costs a few seconds per (family, kind, shapes, chunk), so
tests share data sets and chunk shapes where they can, the default tests draw
parametric replicates from the Gaussian (NumPyro's Poisson, gamma and binomial
samplers are rejection loops, slow to compile under vmap), and the Poisson,
negative binomial and binomial parametric bootstraps are marked slow.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import statsmodels.api as sm

import numpyro_glm as glm
from numpyro_glm.bootstrap import BootstrapResult
from numpyro_glm.irls import Status

N_BOOT = 1000


@pytest.fixture(scope="module")
def overdispersed():
    """Counts with Var = μ + μ² (NB, α = 1) fitted as Poisson: the model SEs are too small."""
    rng = np.random.default_rng(11)
    n = 2000
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, size=n)]).astype(float)
    mu = np.exp(X @ [0.8, 0.4, -0.3])
    y = rng.poisson(rng.gamma(1.0, mu)).astype(float)
    hc0 = sm.GLM(y, X, family=sm.families.Poisson()).fit(cov_type="HC0", tol=1e-12)
    return X, y, hc0


@pytest.fixture(scope="module")
def pairs_boot(overdispersed):
    X, y, _ = overdispersed
    return glm.bootstrap(X, y, glm.Poisson(), n_boot=N_BOOT, key=jax.random.key(3))


def test_pairs_bootstrap_se_matches_sandwich_hc0(overdispersed, pairs_boot):
    _, _, hc0 = overdispersed
    boot = pairs_boot
    assert boot.n_failed == 0
    assert boot.coef.shape == (N_BOOT, 3) and boot.dispersion is None and boot.alpha is None
    np.testing.assert_allclose(boot.fit.coef, hc0.params, rtol=1e-7)
    # Monte Carlo sd of an sd from 1,000 replicates is ~2.2 %: 8 % is > 3.5 sd.
    np.testing.assert_allclose(boot.se, hc0.bse, rtol=0.08)
    # ... while the (wrong) model-based SEs are far off: the test can tell them apart.
    assert np.all(np.asarray(boot.se) / np.asarray(boot.fit.se) > 1.5)
    # Percentile intervals: the converged replicates' quantiles, as numpy computes them.
    np.testing.assert_allclose(boot.conf_int(0.9), np.quantile(boot.coef, [0.05, 0.95], axis=0).T, rtol=1e-12)
    assert boot.conf_int().shape == (3, 2)


def test_batch_size_does_not_change_the_replicates(overdispersed, pairs_boot):
    X, y, _ = overdispersed
    # 300 does not divide 1,000: the last chunk is padded and trimmed.
    batched = glm.bootstrap(X, y, glm.Poisson(), n_boot=N_BOOT, key=jax.random.key(3), batch_size=300)
    np.testing.assert_array_equal(batched.status, pairs_boot.status)
    # Same draws, same fits; only a chunk's matrix products may round differently.
    np.testing.assert_allclose(batched.coef, pairs_boot.coef, rtol=1e-12, atol=1e-14)


def test_bayesian_bootstrap_centres_on_the_mle_with_sandwich_spread(overdispersed):
    X, y, hc0 = overdispersed
    boot = glm.bootstrap(X, y, glm.Poisson(), n_boot=N_BOOT, key=jax.random.key(4), kind="bayesian")
    assert boot.n_failed == 0
    # Mean of the replicates = MLE up to Monte Carlo error (sd/√B) and an O(1/n) bias.
    np.testing.assert_allclose(boot.mean, boot.fit.coef, atol=float(4 * np.max(boot.se) / np.sqrt(N_BOOT)) + 1e-3)
    np.testing.assert_allclose(boot.se, hc0.bse, rtol=0.08)


SMALL_N = 60


def small_gaussian(seed: int):
    """y = 1 + 0.5x + N(0, 1.5²), n = 60, float32: the shapes every small Gaussian test shares."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(SMALL_N), np.linspace(-1.5, 1.5, SMALL_N)]).astype(np.float32)
    y = (X @ np.array([1.0, 0.5], np.float32) + rng.normal(scale=1.5, size=SMALL_N)).astype(np.float32)
    return X, y


def test_parametric_bootstrap_coverage_is_near_nominal_float32():
    covered = []
    for sim in range(200):
        X, y = small_gaussian(100 + sim)
        boot = glm.bootstrap(X, y, glm.Gaussian(), n_boot=199, key=jax.random.key(sim), kind="parametric")
        assert boot.coef.dtype == jnp.float32 and boot.n_failed == 0
        lo, hi = boot.conf_int(0.95)[1]
        covered.append(lo <= 0.5 <= hi)
    # Binomial sd of the coverage estimate at 0.95 with 200 data sets: 1.5 %. (The
    # percentile interval ignores the t correction: ~0.94 expected at n = 60.)
    assert 0.90 <= np.mean(covered) <= 0.99, np.mean(covered)


def test_parametric_draws_come_from_the_fitted_model():
    """y* ~ N(μ̂, φ̂): the slope's replicates spread as the model SE says (up to the
    plug-in φ̂ and Monte Carlo error), and φ* centres on φ̂·(n − p)/n."""
    X, y = small_gaussian(0)
    # n_boot as in the coverage test: the same compiled chunk.
    boot = glm.bootstrap(X, y, glm.Gaussian(), n_boot=199, key=jax.random.key(0), kind="parametric")
    np.testing.assert_allclose(boot.se, boot.fit.se, rtol=0.15)
    np.testing.assert_allclose(np.mean(boot.dispersion), float(boot.fit.dispersion), rtol=0.06)


def test_dispersion_of_a_resample_uses_the_original_degrees_of_freedom():
    X, y = small_gaussian(1)
    boot = glm.bootstrap(X, y, glm.Gaussian(), n_boot=400, key=jax.random.key(0))
    assert boot.dispersion.shape == (400,) and boot.dispersion.dtype == jnp.float32
    # Each resample has n rows (only ~63 % distinct): its φ is RSS/(n − p), which
    # centres on φ̂·(n − p)/n. Dividing by the distinct rows' df would inflate it ~1.6×.
    expected = float(boot.fit.dispersion) * (SMALL_N - 2) / SMALL_N
    np.testing.assert_allclose(np.mean(boot.dispersion), expected, rtol=0.04)
    ols = sm.OLS(y.astype(float), X.astype(float)).fit(cov_type="HC0")
    np.testing.assert_allclose(boot.se, ols.bse, rtol=0.15)


@pytest.fixture(scope="module")
def tiny_logistic():
    # Overlap only between x = 0.4 (y = 1) and x = 0.6 (y = 0): resamples that miss
    # either row are completely separated.
    x = np.array([-1.0, -0.8, -0.6, -0.4, -0.2, 0.0, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4])
    y = np.array([0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1], dtype=float)
    return np.column_stack([np.ones_like(x), x]), y


def test_replicates_that_separate_are_counted_and_left_out(tiny_logistic):
    X, y = tiny_logistic
    with pytest.warns(UserWarning, match=r"(\d+) of 300 bootstrap replicates did not converge") as record:
        boot = glm.bootstrap(X, y, glm.Bernoulli(), n_boot=300, key=jax.random.key(0))
    converged = np.asarray(boot.converged)
    n_failed = int((~converged).sum())
    assert boot.n_failed == n_failed and 30 < n_failed < 290
    assert f"{n_failed} of 300" in str(record[0].message)
    assert boot.failures.get("SEPARATION", 0) > 0
    assert sum(boot.failures.values()) == n_failed
    assert np.all(np.asarray(boot.status)[converged] == Status.CONVERGED)
    kept = np.asarray(boot.coef)[converged]
    np.testing.assert_allclose(boot.se, kept.std(0, ddof=1), rtol=1e-10)
    np.testing.assert_allclose(boot.conf_int(0.8), np.quantile(kept, [0.1, 0.9], axis=0).T, rtol=1e-10)
    text = str(boot.summary())
    assert f"{n_failed} failed" in text and "left out" in text


def test_result_is_a_pytree_and_summarises(pairs_boot):
    leaves, treedef = jax.tree.flatten(pairs_boot)
    rebuilt = jax.tree.unflatten(treedef, leaves)
    assert isinstance(rebuilt, BootstrapResult) and rebuilt.kind == "pairs"
    sliced = jax.tree.map(lambda a: a, pairs_boot)
    np.testing.assert_array_equal(sliced.coef, pairs_boot.coef)
    summary = pairs_boot.summary()
    assert [r[0] for r in summary.rows] == ["x0", "x1", "x2"]
    np.testing.assert_allclose([r[4] for r in summary.rows], pairs_boot.se)
    assert "Pairs bootstrap, poisson family (log link): 1000 replicates, 0 failed" in str(summary)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_boot": 0}, "n_boot must be a positive integer"),
        ({"n_boot": -5}, "n_boot must be a positive integer"),
        ({"n_boot": 10.0}, "n_boot must be a positive integer"),
        ({"kind": "jackknife"}, "kind must be one of"),
        ({"batch_size": 0}, "batch_size must be a positive integer or None"),
        ({"key": 0}, "key must be a single JAX random key"),
        ({"key": np.arange(3, dtype=np.uint32)}, "key must be a single JAX random key"),
        ({"level": 1.5}, "level must be a number in"),
        ({"weight": np.ones(12)}, r"unknown fit argument\(s\) \['weight'\]"),
        ({"offset": np.ones(5)}, "offset must have shape"),
    ],
)
def test_bad_arguments_name_the_argument(tiny_logistic, kwargs, match):
    X, y = tiny_logistic
    arguments = {"n_boot": 10, "key": jax.random.key(0), **kwargs}
    with pytest.raises(ValueError, match=match):
        glm.bootstrap(X, y, glm.Bernoulli(), **arguments)


def test_parametric_bootstrap_refuses_a_fit_that_did_not_converge(tiny_logistic):
    X, y = tiny_logistic
    separated = (X[:, 1] > 0.5).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit's own separation warning
        with pytest.raises(ValueError, match="kind='parametric'.*did not converge"):
            glm.bootstrap(X, separated, glm.Bernoulli(), n_boot=10, key=jax.random.key(0), kind="parametric")


# --------------------------------------------------------------------------- slow: more compiles


@pytest.mark.slow
def test_poisson_parametric_bootstrap_se_is_the_model_se():
    rng = np.random.default_rng(6)
    X = np.column_stack([np.ones(200), rng.normal(size=200)])
    y = rng.poisson(np.exp(X @ [0.7, 0.5])).astype(float)
    boot = glm.bootstrap(X, y, glm.Poisson(), n_boot=400, key=jax.random.key(0), kind="parametric")
    assert boot.n_failed == 0 and boot.dispersion is None
    np.testing.assert_allclose(boot.se, boot.fit.se, rtol=0.15)


@pytest.mark.slow
def test_negative_binomial_parametric_bootstrap_re_estimates_alpha():
    rng = np.random.default_rng(8)
    n = 300
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    mu = np.exp(X @ [1.0, 0.5])
    y = rng.negative_binomial(2.0, 2.0 / (2.0 + mu)).astype(float)  # α = 0.5
    boot = glm.bootstrap(X, y, glm.NegativeBinomial(), n_boot=200, key=jax.random.key(0), kind="parametric")
    assert boot.n_failed == 0 and boot.alpha.shape == (200,)
    # α̂'s replicates spread as its delta-method SE says; β̂'s as the model SE.
    np.testing.assert_allclose(np.std(boot.alpha, ddof=1), float(boot.fit.alpha_se), rtol=0.25)
    np.testing.assert_allclose(boot.se, boot.fit.se, rtol=0.25)


@pytest.mark.slow
def test_binomial_parametric_bootstrap_uses_trials_and_aliased_columns_stay_nan():
    rng = np.random.default_rng(9)
    n = 200
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, 2 * x])  # the third column is aliased
    trials = rng.integers(1, 20, size=n).astype(float)
    y = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-(0.2 + 0.8 * x)))).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit's rank-deficiency warning
        boot = glm.bootstrap(X, y, glm.Binomial(), n_boot=200, key=jax.random.key(0), kind="parametric",
                             trials=trials)
    assert boot.n_failed == 0
    assert np.all(np.isnan(boot.coef[:, 2])) and np.all(np.isfinite(boot.coef[:, :2]))
    np.testing.assert_allclose(boot.se[:2], boot.fit.se[:2], rtol=0.25)
