"""Families against statsmodels and scipy.stats, R's conventions, and clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
import statsmodels.genmod.families as smf
from scipy import stats

import numpyro_glm as glm
from numpyro_glm import families, links

RNG = np.random.default_rng(20261122)
N = 40
MU_POS = RNG.uniform(0.2, 5.0, N)
MU_UNIT = RNG.uniform(0.05, 0.95, N)
WEIGHTS = RNG.uniform(0.5, 2.0, N)
TRIALS = RNG.integers(1, 12, N).astype(float)
PHI = 0.7


def response(family):
    """A valid response for ``family`` (and the matching mean and trials)."""
    name = family.name
    if name == "gaussian":
        return RNG.normal(2.0, 1.0, N), MU_POS, None
    if name == "bernoulli":
        return RNG.integers(0, 2, N).astype(float), MU_UNIT, None
    if name == "binomial":
        return RNG.binomial(TRIALS.astype(int), MU_UNIT).astype(float), MU_UNIT, TRIALS
    if name in ("poisson", "negative_binomial"):
        return RNG.poisson(MU_POS).astype(float), MU_POS, None
    if name == "tweedie" and family.power < 2:
        y = RNG.gamma(2.0, 1.0, N)
        y[::4] = 0.0
        return y, MU_POS, None
    return RNG.gamma(2.0, 1.0, N), MU_POS, None


FAMILIES = [
    glm.Gaussian(),
    glm.Bernoulli(),
    glm.Binomial(),
    glm.Poisson(),
    glm.Gamma(),
    glm.InverseGaussian(),
    glm.NegativeBinomial(alpha=0.6),
    glm.Tweedie(0.0),
    glm.Tweedie(1.0),
    glm.Tweedie(1.5),
    glm.Tweedie(2.0),
    glm.Tweedie(3.0),
]


def statsmodels_family(family):
    name = family.name
    return {
        "gaussian": lambda: smf.Gaussian(),
        "bernoulli": lambda: smf.Binomial(),
        "binomial": lambda: smf.Binomial(),
        "poisson": lambda: smf.Poisson(),
        "gamma": lambda: smf.Gamma(),
        "inverse_gaussian": lambda: smf.InverseGaussian(),
        "negative_binomial": lambda: smf.NegativeBinomial(alpha=family.alpha),
        "tweedie": lambda: smf.Tweedie(var_power=family.power, eql=False),
    }[name]()


# ---------------------------------------------------------------- math vs statsmodels


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_variance_and_unit_deviance_match_statsmodels(family):
    y, mu, trials = response(family)
    sm = statsmodels_family(family)
    np.testing.assert_allclose(family.variance(mu), sm.variance(mu), rtol=1e-12)
    if family.name == "binomial":
        # statsmodels works with proportions and counts the trials as weights.
        expected = trials * sm._resid_dev(y / trials, mu)
    else:
        expected = sm._resid_dev(y, mu)
    np.testing.assert_allclose(family.unit_deviance(y, mu, trials=trials), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        family.deviance(y, mu, WEIGHTS, trials=trials), np.sum(WEIGHTS * expected), rtol=1e-10
    )


SCIPY_LOGPDF = {
    "gaussian": lambda y, mu, phi, n: stats.norm.logpdf(y, mu, np.sqrt(phi)),
    "bernoulli": lambda y, mu, phi, n: stats.bernoulli.logpmf(y, mu),
    "binomial": lambda y, mu, phi, n: stats.binom.logpmf(y, n, mu),
    "poisson": lambda y, mu, phi, n: stats.poisson.logpmf(y, mu),
    "gamma": lambda y, mu, phi, n: stats.gamma.logpdf(y, a=1 / phi, scale=mu * phi),
    "inverse_gaussian": lambda y, mu, phi, n: stats.invgauss.logpdf(y, mu * phi, scale=1 / phi),
    "negative_binomial": lambda y, mu, phi, n, alpha=0.6: stats.nbinom.logpmf(y, 1 / alpha, 1 / (1 + alpha * mu)),
}


@pytest.mark.parametrize("family", [f for f in FAMILIES if f.name != "tweedie"], ids=repr)
def test_log_prob_matches_scipy(family):
    y, mu, trials = response(family)
    expected = SCIPY_LOGPDF[family.name](y, mu, PHI, trials)
    np.testing.assert_allclose(family.log_prob(y, mu, PHI, trials=trials), expected, rtol=1e-10)
    # The NumPyro distribution is the same law.
    np.testing.assert_allclose(family.distribution(mu, PHI, trials=trials).log_prob(y), expected, rtol=1e-10)


# statsmodels' series is itself off by ~1e-6 near p = 1.2 (see benchmarks/results/tweedie_logpdf.md,
# where both are checked against a 50-digit sum); tests/test_distributions.py has that oracle.
@pytest.mark.parametrize("power", [1.5, 1.8])
def test_tweedie_log_prob_matches_statsmodels(power):
    family = glm.Tweedie(power)
    y, mu, _ = response(family)
    sm = smf.Tweedie(var_power=power, eql=False)
    expected = sm.loglike_obs(y, mu, var_weights=WEIGHTS, scale=PHI)
    np.testing.assert_allclose(family.log_prob(y, mu, PHI, weights=WEIGHTS), expected, rtol=1e-7)


@pytest.mark.parametrize("power,reference", [(0.0, "gaussian"), (2.0, "gamma"), (3.0, "inverse_gaussian")])
def test_tweedie_special_powers_reduce_to_their_families(power, reference):
    tweedie = glm.Tweedie(power)
    other = families.get(reference)
    y, mu, _ = response(other)
    np.testing.assert_allclose(tweedie.log_prob(y, mu, PHI), other.log_prob(y, mu, PHI), rtol=1e-10)
    np.testing.assert_allclose(tweedie.unit_deviance(y, mu), other.unit_deviance(y, mu), rtol=1e-10)


def test_tweedie_power_one_is_the_scaled_poisson():
    phi = 0.5
    y = np.array([0.0, 0.5, 1.5, 3.0])  # multiples of phi
    mu = np.array([0.5, 1.0, 2.0, 3.0])
    expected = stats.poisson.logpmf(y / phi, mu / phi)
    np.testing.assert_allclose(glm.Tweedie(1.0).log_prob(y, mu, phi), expected, rtol=1e-10)


# ---------------------------------------------------------------- R's weight conventions


def r_aic(name, y, n, mu, wt, dev):
    """R's family$aic (stats/R/family.R), transcribed."""
    if name == "gaussian":
        nobs = len(y)
        return nobs * (np.log(2 * np.pi * dev / nobs) + 1) + 2 - np.sum(np.log(wt))
    if name == "poisson":
        return -2 * np.sum(stats.poisson.logpmf(y, mu) * wt)
    if name == "gamma":
        disp = dev / np.sum(wt)
        return -2 * np.sum(stats.gamma.logpdf(y, 1 / disp, scale=mu * disp) * wt) + 2
    if name == "inverse_gaussian":
        disp = dev / np.sum(wt)
        return np.sum(wt) * (np.log(disp * 2 * np.pi) + 1) + 3 * np.sum(np.log(y) * wt) + 2
    if name == "binomial":  # two-column response: weights become prior weights × trials
        m = n
        return -2 * np.sum(wt * n / m * stats.binom.logpmf(y, m, mu))
    raise KeyError(name)


@pytest.mark.parametrize("name", ["gaussian", "poisson", "gamma", "inverse_gaussian", "binomial"])
def test_weighted_log_likelihood_reproduces_r_aic(name):
    family = families.get(name)
    y, mu, trials = response(family)
    dev = float(family.deviance(y, mu, WEIGHTS, trials=trials))
    # R evaluates the likelihood at the dispersion's MLE: dev/n (gaussian) or dev/Σw.
    phi = dev / len(y) if name == "gaussian" else dev / WEIGHTS.sum()
    loglik = float(jnp.sum(family.log_prob(y, mu, phi, weights=WEIGHTS, trials=trials)))
    n_dispersion_params = 1 if family.has_free_dispersion else 0
    aic = -2 * loglik + 2 * n_dispersion_params
    np.testing.assert_allclose(aic, r_aic(name, y, trials, mu, WEIGHTS, dev), rtol=1e-10)


def test_zero_weight_rows_contribute_nothing():
    for family in FAMILIES:
        y, mu, trials = response(family)
        w = WEIGHTS.copy()
        w[:5] = 0.0
        lp = family.log_prob(y, mu, PHI, weights=w, trials=trials)
        assert np.all(np.asarray(lp)[:5] == 0.0), family
        assert np.all(np.isfinite(lp)), family


# ---------------------------------------------------------------- every family × link


UNIT_INTERVAL_LINKS = {"logit", "probit", "cauchit", "logc", "cloglog", "loglog"}


def _all_pairs():
    pairs = []
    for family in FAMILIES:
        names = list(family.allowed_links) + (["power(0.3)"] if family.allows_power_links else [])
        for name in names:
            pairs.append((family, name))
    return pairs


@pytest.mark.parametrize("family,link_name", _all_pairs(), ids=lambda v: repr(v) if not isinstance(v, str) else v)
def test_every_family_link_pair_is_finite_on_valid_input(family, link_name):
    fam = family.replace(link=link_name)
    assert fam.link == links.get(link_name)
    y, mu0, trials = response(fam)
    if link_name in UNIT_INTERVAL_LINKS:  # e.g. negative binomial with cloglog: μ < 1
        mu0 = MU_UNIT
    mu = fam.link.inverse(fam.link(mu0))  # the mean as the link produces it
    assert jnp.all(fam.valid_mu(mu))
    for value in (
        fam.variance(mu),
        fam.unit_deviance(y, mu, trials=trials),
        fam.deviance(y, mu, WEIGHTS, trials=trials),
        fam.log_prob(y, mu, PHI, weights=WEIGHTS, trials=trials),
    ):
        assert jnp.all(jnp.isfinite(value)), (fam, value)
    assert jnp.all(fam.unit_deviance(y, mu, trials=trials) >= -1e-12)
    fam.validate_response(y, trials=trials)  # valid input passes


@pytest.mark.parametrize(
    "family,bad_link",
    [(glm.Poisson, "logit"), (glm.Gaussian, "probit"), (glm.Bernoulli, "sqrt"), (glm.Gamma, "cloglog"),
     (glm.InverseGaussian, "probit")],
)
def test_unsupported_link_raises_listing_the_allowed_links(family, bad_link):
    with pytest.raises(ValueError, match=rf"link '{bad_link}' is not available for the .* family; allowed links: "):
        family(link=bad_link)


def test_default_links_follow_r():
    defaults = {
        glm.Gaussian: "identity", glm.Bernoulli: "logit", glm.Binomial: "logit", glm.Poisson: "log",
        glm.Gamma: "inverse", glm.InverseGaussian: "inverse_squared", glm.NegativeBinomial: "log",
        glm.Tweedie: "log",
    }
    for cls, name in defaults.items():
        assert cls().link.name == name


def test_custom_links_are_accepted_by_any_family():
    cube = links.CustomLink("cube", jnp.cbrt, lambda eta: eta**3)
    fam = glm.Gamma(link=cube)
    assert fam.link is cube
    assert jnp.isfinite(fam.deviance(jnp.array([1.0, 2.0]), fam.link.inverse(jnp.array([1.0, 1.2]))))


# ---------------------------------------------------------------- starting values


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_starting_mu_is_valid_and_follows_r(family):
    y, _, trials = response(family)
    start = np.asarray(family.starting_mu(y, WEIGHTS, trials=trials))
    assert np.all(family.valid_mu(start))
    expected = {
        "gaussian": y,
        "poisson": y + 0.1,
        "gamma": y,
        "inverse_gaussian": y,
        "bernoulli": (WEIGHTS * y + 0.5) / (WEIGHTS + 1),
        "binomial": (WEIGHTS * y + 0.5) / (WEIGHTS * (trials if trials is not None else 1) + 1),
        "negative_binomial": y + (y == 0) / 6,
    }.get(family.name)
    if expected is None:  # tweedie: statmod's y + 0.1·[y = 0] (y itself for power 0)
        expected = y if family.power == 0 else y + 0.1 * (y == 0)
    np.testing.assert_allclose(start, expected, rtol=1e-12)


# ---------------------------------------------------------------- the NumPyro distribution


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_distribution_moments_match_the_family_and_work_in_numpyro_sample(family):
    y, mu, trials = response(family)
    d = family.distribution(mu, PHI, trials=trials)
    assert isinstance(d, dist.Distribution)
    n = 1.0 if trials is None else trials
    mean_scale = n if family.name == "binomial" else 1.0
    np.testing.assert_allclose(d.mean, mean_scale * mu, rtol=1e-10)
    phi = PHI if family.has_free_dispersion else 1.0
    np.testing.assert_allclose(d.variance, mean_scale * phi * family.variance(mu), rtol=1e-10)

    def model():
        with numpyro.plate("rows", N):
            numpyro.sample("y", family.distribution(jnp.asarray(mu), PHI, trials=trials), obs=jnp.asarray(y))

    trace = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace()
    expected = family.log_prob(y, mu, PHI, trials=trials)
    np.testing.assert_allclose(trace["y"]["fn"].log_prob(trace["y"]["value"]), expected, rtol=1e-10)


# ---------------------------------------------------------------- validation errors


@pytest.mark.parametrize(
    "family,y,trials,message",
    [
        (glm.Gaussian(), [1.0, np.nan, 2.0, np.inf], None, r"y must be finite .* rows \[1, 3\]"),
        (glm.Poisson(), [1.0, -1.0, 2.0], None, r"poisson family: y must be non-negative counts.* rows \[1\]"),
        (glm.Poisson(), [1.0, 2.5, 2.0], None, r"y must be integer counts.* rows \[1\]"),
        (glm.NegativeBinomial(), [0.0, 0.5], None, r"negative_binomial family: y must be integer counts.* rows \[1\]"),
        (glm.Bernoulli(), [0.0, 1.0, 2.0, 0.5], None, r"y must be 0 or 1.* rows \[2, 3\]"),
        (glm.Binomial(), [1.0, 4.0], [3.0, 3.0], r"y must not exceed trials.* rows \[1\]"),
        (glm.Binomial(), [1.0, 1.5], [3.0, 3.0], r"y must be integer counts.* rows \[1\]"),
        (glm.Binomial(), [1.0, 1.0], [3.0, -3.0], r"trials must be non-negative counts.* rows \[1\]"),
        (glm.Binomial(), [1.0, 1.0], None, r"needs trials="),
        (glm.Gamma(), [1.0, 0.0, -2.0], None, r"gamma family: y must be positive.* rows \[1, 2\]"),
        (glm.InverseGaussian(), [0.0, 1.0], None, r"inverse_gaussian family: y must be positive.* rows \[0\]"),
        (glm.Tweedie(1.5), [0.0, -0.1, 1.0], None, r"tweedie family: y must be non-negative.* rows \[1\]"),
        (glm.Tweedie(2.5), [0.0, 1.0], None, r"tweedie family: y must be positive.* rows \[0\]"),
        (glm.Poisson(), [1.0, 1.0], [1.0, 1.0], r"trials is only used by the binomial family"),
    ],
)
def test_validate_response_names_the_problem_and_the_rows(family, y, trials, message):
    with pytest.raises(ValueError, match=message):
        family.validate_response(np.asarray(y), trials=None if trials is None else np.asarray(trials))


def test_validate_response_truncates_long_lists_of_bad_rows():
    y = -np.arange(1.0, 101.0)
    with pytest.raises(ValueError, match=r"100 bad row\(s\), first at rows \[0, 1, 2, 3, 4\].*and 95 more"):
        glm.Poisson().validate_response(y)


# ---------------------------------------------------------------- value semantics, registry


def test_families_are_immutable_hashable_and_compare_by_value():
    assert glm.Poisson() == glm.Poisson(link="log") == families.get("poisson")
    assert hash(glm.Tweedie(1.5)) == hash(glm.Tweedie(power=1.5, link=links.Log()))
    assert glm.Tweedie(1.5) != glm.Tweedie(1.6)
    assert glm.NegativeBinomial(0.5) != glm.NegativeBinomial(None)
    assert glm.Poisson() != glm.Poisson(link="sqrt")
    assert len({glm.Gamma(), glm.Gamma(), glm.Gamma(link="log")}) == 2
    with pytest.raises(AttributeError, match="immutable"):
        glm.Poisson().link = links.Identity()
    assert glm.NegativeBinomial(0.5).replace(alpha=0.25) == glm.NegativeBinomial(0.25)


def test_families_are_static_jit_arguments():
    @jax.jit
    def deviance(y, mu):
        return glm.Gamma(link="log").deviance(y, mu)

    y, mu = jnp.array([1.0, 2.0]), jnp.array([1.5, 1.5])
    np.testing.assert_allclose(deviance(y, mu), glm.Gamma().deviance(y, mu), rtol=1e-12)
    jitted = jax.jit(lambda fam, y, mu: fam.deviance(y, mu), static_argnums=0)
    for fam in (glm.Poisson(), glm.Tweedie(1.3), glm.NegativeBinomial(0.4)):
        np.testing.assert_allclose(jitted(fam, y, mu), fam.deviance(y, mu), rtol=1e-12)


def test_negative_binomial_alpha_can_be_traced_for_estimation():
    y, mu = jnp.array([0.0, 3.0, 7.0]), jnp.array([1.0, 2.0, 5.0])

    def loglik(alpha):
        return jnp.sum(glm.NegativeBinomial(alpha=alpha).log_prob(y, mu))

    grad = jax.grad(loglik)(0.5)
    step = 1e-6
    fd = (loglik(0.5 + step) - loglik(0.5 - step)) / (2 * step)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    with pytest.raises(ValueError, match="replace\\(alpha=value\\)"):
        glm.NegativeBinomial().variance(mu)
    with pytest.raises(ValueError, match="alpha must be a positive float"):
        glm.NegativeBinomial(alpha=-1.0)


def test_tweedie_rejects_powers_with_no_distribution():
    for power in (0.5, -1.0, np.nan):
        with pytest.raises(ValueError, match="power must be 0 or >= 1"):
            glm.Tweedie(power)


def test_registry_get_register_available():
    assert families.available() == sorted(
        ["bernoulli", "binomial", "gamma", "gaussian", "inverse_gaussian", "negative_binomial", "poisson", "tweedie"]
    )
    assert families.get("poisson", link="sqrt") == glm.Poisson(link="sqrt")
    assert families.get("inverse.gaussian") == glm.InverseGaussian()
    assert families.get("tweedie", power=1.2) == glm.Tweedie(1.2)
    assert families.get(glm.Gamma(), link="log") == glm.Gamma(link="log")
    with pytest.raises(ValueError, match="available families: bernoulli, binomial"):
        families.get("quasi")
    with pytest.raises(ValueError, match="already registered"):
        families.register("poisson", glm.Poisson)
    with pytest.raises(ValueError, match="subclass of numpyro_glm.families.Family"):
        families.register("thing", object)


# ---------------------------------------------------------------- float32


@pytest.mark.parametrize("family", FAMILIES, ids=repr)
def test_float32_inputs_stay_float32_and_finite(family):
    y, mu, trials = response(family)
    y32, mu32 = jnp.asarray(y, jnp.float32), jnp.asarray(mu, jnp.float32)
    t32 = None if trials is None else jnp.asarray(trials, jnp.float32)
    w32 = jnp.asarray(WEIGHTS, jnp.float32)
    for value in (
        family.variance(mu32),
        family.unit_deviance(y32, mu32, trials=t32),
        family.log_prob(y32, mu32, 0.7, weights=w32, trials=t32),
        family.starting_mu(y32, w32, trials=t32),
    ):
        assert value.dtype == jnp.float32, (family, value.dtype)
        assert jnp.all(jnp.isfinite(value))
    np.testing.assert_allclose(
        family.log_prob(y32, mu32, 0.7, trials=t32), family.log_prob(y, mu, 0.7, trials=trials), rtol=2e-4, atol=1e-4
    )
