"""The glm() model block and its default priors, against fit, scipy and rstanarm's formulas.

No MCMC here (see test_nuts_init.py): traces, log densities and Predictive.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pytest
from numpyro import handlers
from numpyro.distributions import constraints
from numpyro.infer import Predictive
from numpyro.infer.util import log_density
from scipy import special, stats

import numpyro_glm as glm
from numpyro_glm.priors import CoefficientPrior


def trace(model, *args, key=0, **kwargs):
    return handlers.trace(handlers.seed(model, key)).get_trace(*args, **kwargs)


def block_model(X, y=None, *, family, **kwargs):
    return glm.glm("y", X, y, family=family, **kwargs)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 40
    x1 = rng.normal(3.0, 2.0, n)
    x2 = (rng.uniform(size=n) < 0.3).astype(float)
    X = np.column_stack([np.ones(n), x1, x2])
    eta = X @ [0.2, 0.15, -0.3]
    return {
        "X": X,
        "n": n,
        "gaussian": 1.0 + 2.0 * x1 + rng.normal(0.0, 1.5, n),
        "poisson": rng.poisson(np.exp(eta)).astype(float),
        "gamma": rng.gamma(2.0, np.exp(eta) / 2.0),
        "trials": rng.integers(1, 8, n).astype(float),
        "weights": rng.uniform(0.5, 2.0, n),
        "rng": rng,
    }


# --------------------------------------------------------------------------- sites


@pytest.mark.parametrize(
    "family, sites",
    [
        (glm.Gaussian(), {"y_coef", "y_dispersion"}),
        (glm.Poisson(), {"y_coef"}),
        (glm.NegativeBinomial(), {"y_coef", "y_alpha"}),
        (glm.NegativeBinomial(alpha=0.5), {"y_coef"}),
        (glm.Gamma(link="log"), {"y_coef", "y_dispersion"}),
    ],
    ids=lambda v: repr(v) if not isinstance(v, set) else "",
)
def test_block_creates_the_documented_sites(data, family, sites):
    y = data["gamma"] if isinstance(family, glm.Gamma) else data["poisson"]
    tr = trace(block_model, data["X"], y, family=family)
    latent = {k for k, s in tr.items() if s["type"] == "sample" and not s["is_observed"]}
    assert latent == sites
    assert tr["y_coef"]["fn"].event_shape == (3,)
    assert tr["y"]["is_observed"] and tr["y"]["value"].shape == (data["n"],)
    assert tr["y"]["cond_indep_stack"][0].name == "y_rows"
    assert tr["y"]["infer"]["numpyro_glm"]["block"].sites["obs"] == "y"


def test_block_returns_the_mean_of_the_linear_predictor_with_offset_and_eta(data):
    X, y = data["X"], data["poisson"]
    offset, eta = np.linspace(-0.5, 0.5, data["n"]), 0.3
    coef = np.array([0.1, 0.2, -0.1])
    mu = handlers.substitute(handlers.seed(block_model, 0), data={"y_coef": coef})(
        X, y, family=glm.Poisson(), offset=offset, eta=eta)
    np.testing.assert_allclose(mu, np.exp(X @ coef + offset + eta), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [1, 5, 16, 17, 40])
def test_linear_predictor_and_its_gradient_equal_x_times_coef(p, dtype):
    # Up to 16 columns it is written as coef @ X.T (a fused loop on CPU): same sums.
    rng = np.random.default_rng(p)
    X, coef, cotangent = rng.normal(size=(300, p)), rng.normal(size=p), rng.normal(size=300)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    eta = jax.jit(glm.model.linear_predictor)(X.astype(dtype), coef.astype(dtype))
    assert eta.shape == (300,) and eta.dtype == dtype
    np.testing.assert_allclose(eta, X @ coef, rtol=rtol, atol=rtol * np.max(np.abs(X) @ np.abs(coef)))
    X_typed, cotangent_typed = X.astype(dtype), cotangent.astype(dtype)
    grad = jax.grad(lambda c: cotangent_typed @ glm.model.linear_predictor(X_typed, c))(coef.astype(dtype))
    np.testing.assert_allclose(grad, cotangent @ X, rtol=rtol, atol=rtol * np.max(np.abs(cotangent) @ np.abs(X)))


def test_binomial_block_uses_trials(data):
    X, t = data["X"], data["trials"]
    y = np.minimum(data["poisson"], t)
    coef = np.array([0.1, -0.2, 0.3])
    tr = handlers.trace(handlers.substitute(handlers.seed(block_model, 0), data={"y_coef": coef})).get_trace(
        X, y, family=glm.Binomial(), trials=t)
    p = special.expit(X @ coef)
    np.testing.assert_allclose(tr["y"]["fn"].log_prob(y), stats.binom.logpmf(y, t, p), rtol=1e-10)


# --------------------------------------------------------------------------- weights


def test_weighted_log_density_follows_r_conventions(data):
    X, w = data["X"], data["weights"]
    coef = np.array([1.0, 2.0, 0.0])
    # Gaussian: a weight divides the variance (R's glm, statsmodels' var_weights).
    tr = handlers.trace(handlers.substitute(handlers.seed(block_model, 0), data={"y_coef": coef, "y_dispersion": 2.0})
                        ).get_trace(X, data["gaussian"], family=glm.Gaussian(), weights=w)
    expected = stats.norm.logpdf(data["gaussian"], X @ coef, np.sqrt(2.0 / w))
    np.testing.assert_allclose(tr["y"]["fn"].log_prob(data["gaussian"]), expected, rtol=1e-10)
    # Poisson: a weight multiplies the log density (a frequency weight).
    coef = np.array([0.2, 0.1, -0.3])
    tr = handlers.trace(handlers.substitute(handlers.seed(block_model, 0), data={"y_coef": coef})).get_trace(
        X, data["poisson"], family=glm.Poisson(), weights=w)
    expected = w * stats.poisson.logpmf(data["poisson"], np.exp(X @ coef))
    np.testing.assert_allclose(tr["y"]["fn"].log_prob(data["poisson"]), expected, rtol=1e-10)


@pytest.mark.parametrize("family, response", [(glm.Gaussian(), "gaussian"), (glm.Gamma(link="log"), "gamma")])
def test_flat_prior_posterior_mode_is_the_weighted_mle(data, family, response):
    X, y, w = data["X"], data[response], data["weights"]
    w = np.where(np.arange(data["n"]) % 7 == 0, 0.0, w)  # rows of weight 0 are ignored, as by fit
    flat = {"coef": dist.ImproperUniform(constraints.real_vector, (), (3,))}
    mle = glm.fit(X, y, family, weights=w)

    def log_joint(coef):
        params = {"y_coef": coef, "y_dispersion": mle.dispersion}
        return log_density(block_model, (X, y), {"family": family, "weights": w, "priors": flat}, params)[0]

    score = jax.jit(jax.grad(log_joint))  # one compilation, not one per operation
    # The score at the MLE is zero: compare with its size one standard error away.
    scale = jnp.abs(score(mle.coef + mle.se))
    score = score(mle.coef)
    assert np.all(np.abs(score) < 1e-6 * scale)


# --------------------------------------------------------------------------- default priors


def test_default_priors_follow_rstanarm_autoscaling(data):
    X, y = data["X"], data["gaussian"]
    tr = trace(block_model, X, y, family=glm.Gaussian())
    prior = tr["y_coef"]["fn"]
    sd_y, x_mean, x_sd = y.std(), X[:, 1:].mean(0), X[:, 1:].std(0)
    np.testing.assert_allclose(prior.slopes.scale[1:], 2.5 * sd_y / x_sd, rtol=1e-12)
    np.testing.assert_allclose([prior.intercept.loc, prior.intercept.scale], [y.mean(), 2.5 * sd_y], rtol=1e-12)
    # rstanarm's density: the intercept at centred predictors, independent slopes.
    b = np.array([0.7, -0.4, 1.3])
    expected = (stats.norm.logpdf(b[0] + x_mean @ b[1:], y.mean(), 2.5 * sd_y)
                + stats.norm.logpdf(b[1:], 0.0, 2.5 * sd_y / x_sd).sum())
    np.testing.assert_allclose(prior.log_prob(b), expected, rtol=1e-12)
    # ... and its draws: η at the mean row ~ N(ȳ, 2.5 sd(y)), whatever the columns' offsets.
    draws = prior.sample(jax.random.PRNGKey(0), (4000,))
    at_mean_row = draws @ np.r_[1.0, x_mean]
    assert abs(at_mean_row.mean() - y.mean()) < 4 * 2.5 * sd_y / np.sqrt(4000)
    assert abs(at_mean_row.std() / (2.5 * sd_y) - 1) < 4 / np.sqrt(2 * 4000)
    # σ = √φ ~ Exponential(1/sd(y)): P(φ ≤ v) = 1 − exp(−√v / sd(y)).
    dispersion = tr["y_dispersion"]["fn"]
    v = np.array([0.5, 2.0, 9.0])
    np.testing.assert_allclose(np.exp(dispersion.log_prob(v)),
                               stats.expon.pdf(np.sqrt(v), scale=sd_y) / (2 * np.sqrt(v)), rtol=1e-10)


def test_default_priors_of_non_gaussian_families_are_on_the_link_scale(data):
    X, y = data["X"], data["gamma"]
    tr = trace(block_model, X, y, family=glm.Gamma(link="log"))
    prior = tr["y_coef"]["fn"]
    np.testing.assert_allclose(prior.slopes.scale[1:], 2.5 / X[:, 1:].std(0), rtol=1e-12)  # s_y = 1
    np.testing.assert_allclose([prior.intercept.loc, prior.intercept.scale], [np.log(y.mean()), 2.5], rtol=1e-12)
    assert float(tr["y_dispersion"]["fn"].rate) == 1.0  # Gamma: φ ~ Exponential(1)
    tr = trace(block_model, X, y, family=glm.InverseGaussian(link="log"))
    np.testing.assert_allclose(tr["y_dispersion"]["fn"].rate, y.mean(), rtol=1e-12)  # rate = ȳ^(p−2), p = 3


@pytest.mark.parametrize(
    "family, y, mustart_mean",
    [
        (glm.Poisson(), np.zeros(6), 0.1),            # log(0) would be −inf: R's mustart ȳ + 0.1
        (glm.Bernoulli(), np.ones(6), 6.5 / 7),       # logit(1) = inf: pooled mustart (Σy + ½)/(n + 1)
    ],
)
def test_default_intercept_is_finite_for_degenerate_responses(family, y, mustart_mean):
    X = np.column_stack([np.ones(6), np.arange(6.0)])
    loc = glm.default_priors(X, y, family).coef.intercept.loc
    np.testing.assert_allclose(loc, family.link(mustart_mean), rtol=1e-12)


def test_default_priors_under_jit_equal_the_concrete_ones(data):
    X, y = data["X"], data["poisson"]
    concrete = glm.default_priors(X, y, glm.Poisson(), weights=data["weights"]).coef
    b = np.array([0.1, 0.2, -0.3])
    traced = jax.jit(lambda X, y, w: glm.default_priors(X, y, glm.Poisson(), weights=w).coef.log_prob(b))(
        X, y, data["weights"])
    np.testing.assert_allclose(traced, concrete.log_prob(b), rtol=1e-12)


# --------------------------------------------------------------------------- overrides


def test_coef_prior_override_is_for_the_slopes_and_keeps_the_intercept_default(data):
    X, y = data["X"], data["poisson"]
    default = trace(block_model, X, y, family=glm.Poisson())["y_coef"]["fn"]
    prior = trace(block_model, X, y, family=glm.Poisson(), priors={"coef": dist.Normal(0.0, 1.0)})["y_coef"]["fn"]
    b = np.array([0.3, -1.0, 2.0])
    expected = (stats.norm.logpdf(b[0] + X[:, 1:].mean(0) @ b[1:], default.intercept.loc, default.intercept.scale)
                + stats.norm.logpdf(b[1:]).sum())
    np.testing.assert_allclose(prior.log_prob(b), expected, rtol=1e-12)


def test_non_normal_priors_give_the_centred_density(data):
    X, y = data["X"], data["poisson"]
    priors = {"coef": dist.Laplace(0.0, 2.0), "intercept": dist.Cauchy(1.0, 5.0)}
    fn = trace(block_model, X, y, family=glm.Poisson(), priors=priors)["y_coef"]["fn"]
    assert isinstance(fn, CoefficientPrior)
    b = np.array([0.3, -1.0, 2.0])
    expected = (stats.cauchy.logpdf(0.3 + X[:, 1:].mean(0) @ b[1:], 1.0, 5.0)
                + stats.laplace.logpdf([-1.0, 2.0], 0.0, 2.0).sum())
    np.testing.assert_allclose(fn.log_prob(b), expected, rtol=1e-10)
    assert fn.sample(jax.random.PRNGKey(0), (4,)).shape == (4, 3)


def test_without_an_intercept_column_the_slopes_prior_is_the_whole_prior(data):
    X = data["X"][:, 1:]
    fn = trace(block_model, X, data["poisson"], family=glm.Poisson())["y_coef"]["fn"]
    b = np.array([-1.0, 2.0])
    np.testing.assert_allclose(fn.log_prob(b), stats.norm.logpdf(b, 0.0, 2.5 / X.std(0)).sum(), rtol=1e-12)


def test_whole_vector_dispersion_and_alpha_priors_are_used_as_given(data):
    X = data["X"]
    vector = dist.MultivariateNormal(jnp.zeros(3), 4.0 * jnp.eye(3))
    dispersion, alpha = dist.HalfNormal(3.0), dist.Gamma(2.0, 2.0)
    values = {"y_coef": np.zeros(3), "y_dispersion": 1.0, "y_alpha": 1.0}
    model = handlers.substitute(block_model, data=values)  # no draws: Gamma's sampler is slow to compile
    tr = trace(model, X, data["gaussian"], family=glm.Gaussian(), priors={"coef": vector, "dispersion": dispersion})
    assert tr["y_coef"]["fn"] is vector and tr["y_dispersion"]["fn"] is dispersion
    tr = trace(model, X, data["poisson"], family=glm.NegativeBinomial(), priors={"alpha": alpha})
    assert tr["y_alpha"]["fn"] is alpha


@pytest.mark.parametrize(
    "priors, family, message",
    [
        ({"slopes": dist.Normal()}, glm.Poisson(), "unknown prior key"),
        ({"dispersion": dist.HalfNormal()}, glm.Poisson(), "has no dispersion parameter"),
        ({"alpha": dist.HalfNormal()}, glm.NegativeBinomial(alpha=1.0), "estimated α"),
        ({"coef": dist.Normal(jnp.zeros(2), 1.0)}, glm.Poisson(), "batch shape"),
        ({"coef": dist.HalfNormal(1.0)}, glm.Poisson(), "real line"),
        ({"coef": 1.0}, glm.Poisson(), "numpyro distribution"),
    ],
)
def test_bad_priors_are_rejected_with_a_clear_message(data, priors, family, message):
    with pytest.raises(ValueError, match=message):
        trace(block_model, data["X"], data["poisson"], family=family, priors=priors)


def test_prior_summary_lists_every_site_with_its_scaling(data):
    names = ["(Intercept)", "age", "treated"]
    summary = glm.prior_summary(data["X"], data["gaussian"], glm.Gaussian(), coef_names=names)
    sites = [row[0] for row in summary.rows]
    assert sites == ["y_coef[(Intercept)]", "y_coef[age]", "y_coef[treated]", "y_dispersion"]
    text = str(summary)
    assert "2.5·s_y/s_x" in text and "sd(y)" in text
    sd_x = data["X"][:, 1].std()
    assert f"s_x = {sd_x:.4g}" in summary.rows[1][3]


# --------------------------------------------------------------------------- data


def _error(call):
    with pytest.raises(ValueError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize(
    "case",
    ["y_nan", "y_negative", "y_not_integer", "weights_negative", "offset_shape", "X_inf", "X_1d", "rows",
     "binomial_no_trials", "y_over_trials"],
)
def test_bad_data_gives_the_same_error_as_fit(data, case):
    X, y = data["X"].copy(), data["poisson"].copy()
    kwargs, family = {}, glm.Poisson()
    if case == "y_nan":
        y[3] = np.nan
    elif case == "y_negative":
        y[[2, 5]] = -1.0
    elif case == "y_not_integer":
        y[0] = 0.5
    elif case == "weights_negative":
        kwargs["weights"] = -data["weights"]
    elif case == "offset_shape":
        kwargs["offset"] = np.zeros(5)
    elif case == "X_inf":
        X[7, 1] = np.inf
    elif case == "X_1d":
        X = X[:, 1]
    elif case == "rows":
        y = y[:-1]
    elif case == "binomial_no_trials":
        family = glm.Binomial()
    elif case == "y_over_trials":
        family, kwargs["trials"] = glm.Binomial(), np.ones_like(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = _error(lambda: glm.fit(X, y, family, **kwargs))
    assert _error(lambda: trace(block_model, X, y, family=family, **kwargs)) == expected


# --------------------------------------------------------------------------- subsampling


def test_subsample_size_slices_the_rows_and_scales_the_likelihood(data):
    X, y, offset = data["X"], data["poisson"], np.linspace(0, 1, data["n"])
    coef = np.array([0.2, 0.1, -0.3])
    seeded = handlers.seed(handlers.substitute(block_model, data={"y_coef": coef}), 3)
    tr = handlers.trace(seeded).get_trace(X, y, family=glm.Poisson(), offset=offset, subsample_size=10)
    idx = np.asarray(tr["y_rows"]["value"])
    assert idx.shape == (10,) and len(set(idx.tolist())) == 10
    np.testing.assert_array_equal(tr["y"]["value"], y[idx])
    assert tr["y"]["scale"] == pytest.approx(data["n"] / 10)
    # The log joint: prior + (n/m) Σ over the subsample.
    log_joint, _ = log_density(handlers.substitute(block_model, data={"y_rows": jnp.asarray(idx)}), (X, y),
                               {"family": glm.Poisson(), "offset": offset, "subsample_size": 10}, {"y_coef": coef})
    prior = tr["y_coef"]["fn"]
    expected = prior.log_prob(coef) + data["n"] / 10 * stats.poisson.logpmf(y[idx], np.exp(X[idx] @ coef + offset[idx])).sum()
    np.testing.assert_allclose(log_joint, expected, rtol=1e-10)


# --------------------------------------------------------------------------- Predictive


def hierarchical(X, group, num_groups, y=None):
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("groups", num_groups):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
    return glm.glm("y", X, y, family=glm.Gaussian(), eta=sigma * z[group])


def test_predictive_draws_prior_and_posterior_predictive(data):
    # Gaussian responses: NumPyro's Poisson and Gamma samplers take seconds to compile.
    X, n = data["X"], data["n"]
    prior = Predictive(block_model, num_samples=7)(jax.random.PRNGKey(0), X, family=glm.Gaussian())
    assert prior["y"].shape == (7, n) and prior["y_coef"].shape == (7, 3) and prior["y_dispersion"].shape == (7,)
    # Posterior predictive of a model with random intercepts, at fixed parameters:
    # the draws are N(Xβ + σ z[group], φ) row by row.
    group, m = np.arange(n) % 4, 3000
    coef, sigma, z, dispersion = np.array([0.2, 0.1, -0.3]), 0.5, np.array([-1.0, 0.0, 0.5, 2.0]), 0.5
    posterior = {"y_coef": np.tile(coef, (m, 1)), "sigma": np.full(m, sigma), "z": np.tile(z, (m, 1)),
                 "y_dispersion": np.full(m, dispersion)}
    draws = Predictive(hierarchical, posterior)(jax.random.PRNGKey(1), X, group, 4)["y"]
    assert draws.shape == (m, n)
    assert np.all(np.abs(draws.mean(0) - (X @ coef + sigma * z[group])) < 5 * np.sqrt(dispersion / m))
    assert np.all(np.abs(draws.var(0) / dispersion - 1) < 5 * np.sqrt(2 / m))


# --------------------------------------------------------------------------- names and dtypes


def test_coef_names_come_from_a_dataframe_or_the_argument(data):
    frame = pd.DataFrame(data["X"], columns=["(Intercept)", "age", "treated"])
    y = data["poisson"]
    assert glm.coef_names(block_model, frame, y, family=glm.Poisson()) == {"y_coef": ("(Intercept)", "age", "treated")}
    names = glm.coef_names(block_model, data["X"], y, family=glm.Poisson(), coef_names=["a", "b", "c"])
    assert names == {"y_coef": ("a", "b", "c")}
    labels = glm.arviz_labels(block_model, frame, y, family=glm.Poisson())
    assert labels == {"coords": {"y_coef_dim": ["(Intercept)", "age", "treated"]}, "dims": {"y_coef": ["y_coef_dim"]}}
    with pytest.raises(ValueError, match="coef_names has 2 names for 3 columns"):
        trace(block_model, data["X"], y, family=glm.Poisson(), coef_names=["a", "b"])


def test_float32_data_give_float32_means(data):
    X, y = data["X"].astype(np.float32), data["gamma"].astype(np.float32)
    coef = np.array([0.2, 0.1, -0.3], np.float32)
    mu = handlers.substitute(handlers.seed(block_model, 0), data={"y_coef": coef})(X, y, family=glm.Gamma(link="log"))
    assert mu.dtype == jnp.float32
    assert glm.default_priors(X, y, glm.Gamma(link="log")).coef.slopes.scale.dtype == jnp.float32
    log_joint = jax.jit(lambda params: log_density(block_model, (X, y), {"family": glm.Gamma(link="log")}, params)[0])
    value = log_joint({"y_coef": coef, "y_dispersion": np.float32(0.5)})
    assert np.isfinite(value)
