"""Specification of :mod:`numpyro_glm.distributions`.

Every numerical property is checked against an independent oracle: scipy.stats for
the closed-form laws, statsmodels' Tweedie log-likelihood, and, for the compound
Poisson-gamma density at extreme powers and large y/phi, a brute-force mpmath sum of
the mixture ``sum_j Poisson(j; lambda) * Gamma(y; j * shape, scale)`` written from
the generative definition (not from the Dunn-Smyth series the library uses).

The suite runs in float64 (``tests/conftest.py``); the float32 tests build float32
arrays explicitly.
"""

import functools
import itertools
import math
import warnings

import mpmath
import numpy as np
import pytest
import scipy.integrate
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.genmod.families import Tweedie as SMTweedie

import jax
import jax.numpy as jnp

from numpyro_glm.distributions import InverseGaussian, Poisson, Tweedie, poisson_sample

KEY = jax.random.PRNGKey(20240601)


# Compilation dominates the run time of this file, so the numerical checks go through
# these jitted functions, and their inputs are padded to one length: each power is
# compiled once per dtype, whatever the test's grid.
_PAD_TO = 64


def _padded(jitted):
    """Call `jitted(y, mu, phi)` on the broadcast inputs, flattened and padded to
    `_PAD_TO` entries (a multiple of it if longer); return the leaves unpadded."""

    def call(y, mu, phi):
        args = np.broadcast_arrays(*(np.asarray(a) for a in (y, mu, phi)))
        shape, n = args[0].shape, args[0].size
        size = -(-n // _PAD_TO) * _PAD_TO
        padded = [np.pad(a.ravel(), (0, size - n), mode="edge") for a in args]
        out = jitted(*padded)
        return jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[:n].reshape(shape), out)

    return call


@functools.lru_cache(maxsize=None)
def _log_prob(p):
    """(y, mu, phi) -> Tweedie(mu, phi, p).log_prob(y), jitted; p=None: InverseGaussian(mu, 1/phi)."""
    if p is None:
        return _padded(jax.jit(lambda y, mu, phi: InverseGaussian(mu, 1 / phi).log_prob(y)))
    return _padded(jax.jit(lambda y, mu, phi: Tweedie(mu, phi, p).log_prob(y)))


@functools.lru_cache(maxsize=None)
def _log_prob_and_grads(p):
    """(y, mu, phi) -> (log density, (d/dy, d/dmu, d/dphi)) elementwise, jitted."""

    def f(y, mu, phi):
        if p is None:
            return InverseGaussian(mu, 1 / phi).log_prob(y)
        return Tweedie(mu, phi, p).log_prob(y)

    return _padded(jax.jit(lambda y, mu, phi: (f(y, mu, phi), jax.vmap(jax.grad(f, (0, 1, 2)))(y, mu, phi))))


@functools.lru_cache(maxsize=None)
def _scalar_log_prob(p):
    """Unpadded, for scipy.integrate.quad's many scalar calls."""
    return jax.jit(lambda y, mu, phi: Tweedie(mu, phi, p).log_prob(y))


def _sample(p, mu, phi, n):
    # eager: jax.random's samplers are jitted per shape, so powers share the compilation
    return Tweedie(mu, phi, p).sample(KEY, (n,))


def _grid(*axes):
    """Cartesian product of the axes as float64 columns."""
    return [np.array(c, dtype=np.float64) for c in zip(*itertools.product(*axes))]


def _scipy_invgauss(mu, lam):
    # scipy's invgauss(m, scale=s) has mean m * s and shape parameter s.
    return scipy.stats.invgauss(mu / lam, scale=lam)


def _mixture_log_density_mp(y, mu, phi, p, dps=40):
    """log f(y), y > 0, of the compound Poisson-gamma law, summed in mpmath:
    N ~ Poisson(lam), Y | N = j ~ Gamma(shape j * a, scale g), every term that is
    within e^-110 of the largest."""
    with mpmath.workdps(dps):
        y, mu, phi, p = (mpmath.mpf(v) for v in (y, mu, phi, p))
        lam = mu ** (2 - p) / (phi * (2 - p))
        a = (2 - p) / (p - 1)
        g = phi * (p - 1) * mu ** (p - 1)
        log_y, log_g, log_lam = mpmath.log(y), mpmath.log(g), mpmath.log(lam)

        def log_term(j):
            return (
                -lam + j * log_lam - mpmath.loggamma(j + 1)  # Poisson(j; lam)
                + (j * a - 1) * log_y - y / g - mpmath.loggamma(j * a) - j * a * log_g
            )

        j = max(1, int(y ** (2 - p) / (phi * (2 - p))))
        while j > 1 and log_term(j - 1) > log_term(j):
            j -= 1
        while log_term(j + 1) > log_term(j):
            j += 1
        top = log_term(j)
        terms = [top]
        for step in (1, -1):
            k = j + step
            while k >= 1:
                terms.append(log_term(k))
                if terms[-1] < top - 110:
                    break
                k += step
        return float(top + mpmath.log(mpmath.fsum(mpmath.exp(t - top) for t in terms)))


def _assert_moments(samples, mean, variance, n_se=5.0):
    """Sample mean and variance (columns of `samples`) within `n_se` standard errors."""
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[0]
    m = samples.mean(0)
    c = samples - m
    v = (c**2).mean(0)
    se_mean = np.sqrt(variance / n)
    se_var = np.sqrt(((c**4).mean(0) - v**2) / n)
    assert np.all(np.abs(m - mean) < n_se * se_mean), (m, mean, se_mean)
    assert np.all(np.abs(v - variance) < n_se * se_var), (v, variance, se_var)


# ---------------------------------------------------------------------------
# InverseGaussian
# ---------------------------------------------------------------------------


def test_inverse_gaussian_log_prob_matches_scipy_invgauss():
    mu, lam, x = _grid([0.3, 1.0, 4.0], [0.5, 2.0, 20.0], [0.05, 0.5, 1.0, 3.0, 10.0])
    ours = InverseGaussian(mu, lam).log_prob(x)
    np.testing.assert_allclose(ours, _scipy_invgauss(mu, lam).logpdf(x), rtol=1e-12)


def test_inverse_gaussian_cdf_matches_scipy_including_large_shape_over_mean():
    # lam / mu up to 1e5: exp(2 lam / mu) alone would overflow.
    mu, lam, x = _grid(
        [0.3, 1.0, 4.0], [0.5, 2.0, 20.0, 1e3, 1e5], [0.05, 0.5, 0.99, 1.0, 3.0, 10.0]
    )
    ours = np.asarray(InverseGaussian(mu, lam).cdf(x))
    assert np.all(np.isfinite(ours)) and np.all((ours >= 0) & (ours <= 1))
    np.testing.assert_allclose(
        ours, _scipy_invgauss(mu, lam).cdf(x), rtol=1e-10, atol=1e-300
    )


def test_inverse_gaussian_samples_have_mean_mu_and_variance_mu_cubed_over_lambda():
    mu = np.array([0.5, 1.0, 3.0])
    lam = np.array([4.0, 1.0, 30.0])
    samples = InverseGaussian(mu, lam).sample(KEY, (200_000,))
    assert samples.shape == (200_000, 3)
    assert np.all(np.asarray(samples) > 0)
    _assert_moments(samples, mu, mu**3 / lam)


@pytest.mark.parametrize("mu, lam", [(1.0, 1.0), (2.0, 0.3), (0.5, 50.0)])
def test_inverse_gaussian_samples_pass_ks_test_against_scipy_cdf(mu, lam):
    samples = np.asarray(InverseGaussian(mu, lam).sample(KEY, (50_000,)))
    assert scipy.stats.kstest(samples, _scipy_invgauss(mu, lam).cdf).pvalue > 1e-3


def test_inverse_gaussian_mean_and_variance_properties_broadcast_to_batch_shape():
    d = InverseGaussian(jnp.array([1.0, 2.0]), jnp.array([[1.0], [4.0]]))
    assert d.batch_shape == (2, 2)
    np.testing.assert_allclose(d.mean, [[1.0, 2.0], [1.0, 2.0]])
    np.testing.assert_allclose(d.variance, [[1.0, 8.0], [0.25, 2.0]])


# ---------------------------------------------------------------------------
# Tweedie: density
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("p", [1.1, 1.3, 1.5, 1.7, 1.9])
def test_tweedie_log_prob_matches_statsmodels_loglike_obs(p):
    y, mu, phi = _grid(
        [0.0, 0.01, 0.1, 1.0, 5.0, 20.0, 100.0], [0.1, 1.0, 10.0], [0.1, 1.0, 10.0]
    )
    expected = SMTweedie(var_power=p).loglike_obs(y, mu, var_weights=1.0, scale=phi)
    assert np.all(np.isfinite(expected))
    ours = _log_prob(p)(y, mu, phi)
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


# (y, mu, phi): y / phi from 1e-3 to 1e6, y near and far from mu.
_EXTREME_POINTS = [
    (1e-3, 1.0, 1.0),
    (2.0, 1.0, 1.0),
    (100.0, 30.0, 1.0),
    (1e4, 1e4, 1.0),
    (100.0, 100.0, 0.01),
    (1e3, 300.0, 0.1),
    (1e6, 1e6, 1.0),
]


@pytest.mark.parametrize("p", [1.01, 1.05, 1.95, 1.99])
def test_tweedie_log_prob_matches_high_precision_mixture_sum_at_extreme_powers(p):
    y, mu, phi = (np.array(c) for c in zip(*_EXTREME_POINTS))
    expected = np.array([_mixture_log_density_mp(*pt, p) for pt in _EXTREME_POINTS])
    ours = np.asarray(_log_prob(p)(y, mu, phi))
    assert np.all(np.isfinite(ours))
    # relative error, measured against max(1, |log f|) where log f crosses zero
    err = np.abs(ours - expected) / np.maximum(1.0, np.abs(expected))
    assert err.max() < 1e-10, err


def test_tweedie_log_prob_is_finite_where_statsmodels_overflows():
    # statsmodels (scipy's log_wright_bessel) returns inf at p = 1.01 for large y/phi
    y, mu, phi = np.array([1e4, 1e5]), np.array([1e4, 1e5]), np.array([1.0, 1.0])
    ours = np.asarray(_log_prob(1.01)(y, mu, phi))
    expected = [_mixture_log_density_mp(*pt, 1.01) for pt in zip(y, mu, phi)]
    np.testing.assert_allclose(ours, expected, rtol=1e-10)


@pytest.mark.parametrize(
    "mu, phi, p",
    [
        (1.0, 1.0, 1.5),
        (1.0, 0.2, 1.01),  # density with sharp peaks near multiples of phi
        (2.0, 0.5, 1.01),
        (1.0, 1.0, 1.2),
        (5.0, 2.0, 1.8),
        (3.0, 0.1, 1.99),
        (1.0, 50.0, 1.99),  # mass 0.13 at zero, y^(-0.99) pole at 0+
    ],
)
def test_tweedie_point_mass_at_zero_plus_density_integrates_to_one(mu, phi, p):
    def log_prob(y):
        return _scalar_log_prob(p)(y, mu, phi)

    # integrate over s = log y; below y = eps use the mixture's gamma cdfs (scipy)
    eps, hi = 1e-250, mu + 60 * math.sqrt(phi * mu**p)
    lam = mu ** (2 - p) / (phi * (2 - p))
    a, g = (2 - p) / (p - 1), phi * (p - 1) * mu ** (p - 1)
    j = np.arange(1, int(lam + 40 * math.sqrt(lam) + 40))
    peaks = np.log(j * a * g)  # modes of the mixture components, for quad
    peaks = peaks[(peaks > math.log(eps)) & (peaks < math.log(hi))] if p < 1.1 else None

    def integrand(s):
        return math.exp(float(log_prob(math.exp(s))) + s)

    body, _ = scipy.integrate.quad(
        integrand, math.log(eps), math.log(hi), points=peaks, limit=2000,
        epsabs=1e-13, epsrel=1e-11,
    )
    upper, _ = scipy.integrate.quad(integrand, math.log(hi), math.log(hi) + 50)
    lower = np.sum(scipy.stats.poisson.pmf(j, lam) * scipy.stats.gamma.cdf(eps, j * a, scale=g))
    zero = math.exp(float(log_prob(0.0)))
    np.testing.assert_allclose(zero, math.exp(-lam), rtol=1e-14)
    assert abs(zero + lower + body + upper - 1.0) < 1e-9


@functools.partial(jax.jit, static_argnums=(0, 1))
def _method_for_powers(method, powers, y, mu, phi):
    """Tweedie(mu, phi, p).<method>(y) for several powers in one compilation."""
    return [getattr(Tweedie(mu, phi, p), method)(y) for p in powers]


def test_tweedie_special_powers_equal_normal_poisson_gamma_inverse_gaussian():
    mu, phi, y = _grid([0.5, 2.0, 7.0], [0.25, 1.0, 3.0], [0.3, 1.0, 4.0, 12.0])
    # p = 1: Y / phi ~ Poisson(mu / phi); evaluate on the lattice y = k * phi
    k = np.tile([0.0, 1.0, 3.0, 10.0], 9)
    expected = [
        scipy.stats.norm(mu, np.sqrt(phi)).logpdf(y),
        scipy.stats.poisson(mu / phi).logpmf(k),
        scipy.stats.gamma(1 / phi, scale=phi * mu).logpdf(y),
        _scipy_invgauss(mu, 1 / phi).logpdf(y),
    ]
    values = np.stack([y, k * phi, y, y])  # row i is evaluated with power i
    ours = _method_for_powers("log_prob", (0.0, 1.0, 2.0, 3.0), values, mu, phi)
    for i, (o, e) in enumerate(zip(ours, expected)):
        np.testing.assert_allclose(np.asarray(o)[i], e, rtol=1e-12)


def test_tweedie_cdf_exists_for_powers_zero_two_three_and_matches_scipy():
    mu, phi, y = _grid([0.5, 2.0], [0.25, 3.0], [0.3, 1.0, 4.0])
    expected = [
        scipy.stats.norm(mu, np.sqrt(phi)).cdf(y),
        scipy.stats.gamma(1 / phi, scale=phi * mu).cdf(y),
        _scipy_invgauss(mu, 1 / phi).cdf(y),
    ]
    ours = _method_for_powers("cdf", (0.0, 2.0, 3.0), y, mu, phi)
    for o, e in zip(ours, expected):
        np.testing.assert_allclose(o, e, rtol=1e-10)
    for p in (1.0, 1.5):
        with pytest.raises(NotImplementedError):
            Tweedie(mu, phi, p).cdf(y)


def test_tweedie_log_prob_is_minus_inf_below_zero_without_validation():
    lp = Tweedie(2.0, 0.5, 1.5, validate_args=False).log_prob(jnp.array([-1.0, 0.0]))
    assert lp[0] == -jnp.inf and np.isfinite(lp[1])


# ---------------------------------------------------------------------------
# Tweedie: sampling, moments, construction
# ---------------------------------------------------------------------------


_SAMPLE_MU = np.array([0.7, 2.0, 5.0])
_SAMPLE_PHI = np.array([0.5, 1.5, 0.2])
_N_SAMPLES = 50_000


@functools.lru_cache(maxsize=None)
def _tweedie_samples(p):
    return np.asarray(_sample(p, _SAMPLE_MU, _SAMPLE_PHI, _N_SAMPLES))


# (p = 2 draws from numpyro's Gamma exactly as log_prob evaluates it, checked against
# scipy above; its sampler would be a second, slow compilation of jax.random.gamma)
@pytest.mark.parametrize("p", [0.0, 1.0, 1.01, 1.5, 3.0])
def test_tweedie_samples_have_mean_mu_and_variance_phi_mu_to_the_p(p):
    mu, phi = _SAMPLE_MU, _SAMPLE_PHI
    samples = _tweedie_samples(p)
    assert samples.shape == (_N_SAMPLES, 3) and samples.dtype == np.float64
    d = Tweedie(mu, phi, p)
    np.testing.assert_allclose(d.mean, mu)
    np.testing.assert_allclose(d.variance, phi * mu**p)
    _assert_moments(samples, mu, phi * mu**p)


@pytest.mark.parametrize("p", [1.01, 1.5])
def test_tweedie_fraction_of_exact_zero_samples_matches_point_mass(p):
    mu, phi = _SAMPLE_MU, _SAMPLE_PHI
    zero_frac = np.mean(_tweedie_samples(p) == 0, axis=0)
    p0 = np.exp(np.asarray(_log_prob(p)(np.zeros(3), mu, phi)))
    np.testing.assert_allclose(p0, np.exp(-(mu ** (2 - p)) / (phi * (2 - p))), rtol=1e-14)
    assert np.all(np.abs(zero_frac - p0) <= 5 * np.sqrt(p0 * (1 - p0) / _N_SAMPLES))
    assert np.all(zero_frac < 1)


@pytest.mark.parametrize("p", [0.5, 0.999, 1e-3, -1.0, float("nan")])
def test_tweedie_rejects_powers_strictly_between_zero_and_one_and_negative(p):
    with pytest.raises(ValueError, match=r"0, 1, in \(1, 2\), or >= 2"):
        Tweedie(1.0, 1.0, p)


def test_tweedie_power_must_be_static():
    with pytest.raises(TypeError, match="static Python float"):
        jax.jit(lambda p: Tweedie(1.0, 1.0, p))(1.5)


def test_tweedie_positive_stable_powers_other_than_three_raise_not_implemented():
    d = Tweedie(jnp.array([1.0, 2.0]), 0.5, 2.5)
    np.testing.assert_allclose(d.mean, [1.0, 2.0])
    np.testing.assert_allclose(d.variance, 0.5 * np.array([1.0, 2.0]) ** 2.5)
    assert bool(d.support(1.0)) and not bool(d.support(0.0))
    with pytest.raises(NotImplementedError, match="p > 2 other than p = 3"):
        d.log_prob(1.0)
    with pytest.raises(NotImplementedError, match="p > 2 other than p = 3"):
        d.sample(KEY)


@pytest.mark.parametrize(
    "p, value, in_support",
    [
        (0.0, -3.0, True),
        (1.0, 0.0, True),
        (1.5, 0.0, True),
        (1.5, -1e-9, False),
        (2.0, 0.0, False),
        (2.5, 0.0, False),
        (3.0, 1.0, True),
    ],
)
def test_tweedie_support_is_real_nonnegative_or_positive_by_power(p, value, in_support):
    assert bool(Tweedie(1.0, 1.0, p).support(value)) is in_support


def test_tweedie_is_a_pytree_whose_static_part_holds_the_power():
    d = Tweedie(jnp.array([1.0, 2.0]), jnp.array([0.5, 0.5]), 1.5)
    leaves, treedef = jax.tree_util.tree_flatten(d)
    assert len(leaves) == 2  # mean and dispersion; power is static
    other = jax.tree_util.tree_structure(Tweedie(jnp.ones(2), jnp.ones(2), 1.6))
    assert treedef != other
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt.power == 1.5 and rebuilt.batch_shape == (2,)
    y = jnp.array([0.0, 3.0])
    np.testing.assert_allclose(
        jax.jit(lambda dist, v: dist.log_prob(v))(d, y), d.log_prob(y), rtol=1e-14
    )


# ---------------------------------------------------------------------------
# Transformations: jit, vmap, grad
# ---------------------------------------------------------------------------

_TRANSFORM_CASES = [None, 0.0, 1.0, 1.01, 1.5, 1.99, 2.0, 3.0]  # None: InverseGaussian


def _eager_log_prob(p, y, mu, phi):
    if p is None:
        return InverseGaussian(mu, 1 / phi).log_prob(y)
    return Tweedie(mu, phi, p).log_prob(y)


def _transform_grid():
    return _grid([0.4, 1.0, 3.0, 30.0, 250.0, 1e3], [0.5, 2.0, 40.0], [0.05, 0.5, 10.0])


# the series code path is the same for every 1 < p < 2, so one such power suffices here
@pytest.mark.parametrize("p", [None, 0.0, 1.0, 1.5, 2.0, 3.0])
def test_log_prob_under_jit_and_vmap_equals_eager_evaluation(p):
    y, mu, phi = _transform_grid()
    jitted = np.asarray(_log_prob(p)(y, mu, phi))
    # eager, with the shapes of the validation tests below (they share the compilation)
    rows = (mu == 2.0) & (phi == 0.5) & ((y == 0.4) | (y == 3.0))
    eager = _eager_log_prob(p, jnp.array([0.4, 3.0]), 2.0, 0.5)
    np.testing.assert_allclose(eager, jitted[rows], rtol=1e-13)
    # vmap over values and parameters jointly, and over the parameters only
    f = functools.partial(_eager_log_prob, p)
    joint, shared = jax.jit(
        lambda y, mu, phi: (jax.vmap(f)(y, mu, phi), jax.vmap(f, in_axes=(None, 0, 0))(1.7, mu, phi))
    )(y, mu, phi)
    np.testing.assert_allclose(joint, jitted, rtol=1e-13)
    np.testing.assert_allclose(shared, _log_prob(p)(np.full_like(y, 1.7), mu, phi), rtol=1e-13)


@pytest.mark.parametrize("p", _TRANSFORM_CASES)
def test_grad_of_log_prob_matches_central_finite_differences(p):
    y, mu, phi = _transform_grid()
    if p == 1.0:  # Poisson mass: evaluate on the lattice y = k * phi, k >= 1
        y = np.maximum(1.0, np.round(y / phi)) * phi
    f = _log_prob(p)
    _, grads = _log_prob_and_grads(p)(y, mu, phi)
    args = [y, mu, phi]
    for i, g in enumerate(grads):
        assert np.all(np.isfinite(np.asarray(g)))
        h = 1e-6 * args[i]
        up = [a + h if k == i else a for k, a in enumerate(args)]
        down = [a - h if k == i else a for k, a in enumerate(args)]
        fd = (np.asarray(f(*up)) - np.asarray(f(*down))) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=2e-5, atol=1e-7 * np.max(np.abs(fd)))


@pytest.mark.parametrize("p", [1.01, 1.5, 1.99])
def test_tweedie_log_prob_and_grads_are_finite_for_extreme_values_and_parameters(p):
    y, mu, phi = _grid([0.0, 1e-300, 1e-8, 1.0, 1e5, 1e15], [1e-5, 1.0, 1e6], [1e-4, 1.0, 100.0])
    values, grads = _log_prob_and_grads(p)(y, mu, phi)
    assert np.all(np.isfinite(np.asarray(values)))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)


@settings(max_examples=30, deadline=None)
@given(
    p=st.sampled_from([1.01, 1.5, 1.99]),
    log10_y=st.lists(st.floats(-12, 12), min_size=54, max_size=54),
    log10_mu=st.lists(st.floats(-4, 4), min_size=54, max_size=54),
    log10_phi=st.lists(st.floats(-4, 3), min_size=54, max_size=54),
)
def test_tweedie_log_prob_and_grads_are_finite_over_wide_random_ranges(
    p, log10_y, log10_mu, log10_phi
):
    y, mu, phi = (10.0 ** np.array(v) for v in (log10_y, log10_mu, log10_phi))
    values, grads = _log_prob_and_grads(p)(y, mu, phi)
    assert np.all(np.isfinite(np.asarray(values)))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)


# ---------------------------------------------------------------------------
# float32
# ---------------------------------------------------------------------------


def test_inverse_gaussian_keeps_float32_and_agrees_with_float64():
    # lam / mu = 400: at x = mu the term exp(2 lam / mu) Phi(-2 sqrt(lam / mu)) = 0.014
    # needs Phi far below float32's range
    mu, lam, x = _grid([0.3, 1.0, 4.0], [0.5, 20.0, 400.0], [0.05, 1.0, 4.0, 10.0])

    @jax.jit
    def log_prob_and_cdf(x, mu, lam):
        d = InverseGaussian(mu, lam)
        return d.log_prob(x), d.cdf(x)

    x32, mu32, lam32 = (jnp.asarray(v, jnp.float32) for v in (x, mu, lam))
    lp, cdf = log_prob_and_cdf(x32, mu32, lam32)
    draws = jax.eval_shape(lambda key: InverseGaussian(mu32, lam32).sample(key, (3,)), KEY)
    assert lp.dtype == cdf.dtype == draws.dtype == jnp.float32
    lp64, cdf64 = log_prob_and_cdf(x, mu, lam)
    np.testing.assert_allclose(lp, lp64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cdf, cdf64, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("p", [0.0, 1.0, 1.01, 1.5, 2.0, 3.0])
def test_tweedie_keeps_float32_and_agrees_with_float64(p):
    y, mu, phi = _grid([0.0, 0.01, 1.0, 30.0, 1e3], [0.1, 1.0, 100.0], [0.01, 1.0, 10.0])
    if p >= 2:
        y = y + 0.5
    lp32, grads = _log_prob_and_grads(p)(*(v.astype(np.float32) for v in (y, mu, phi)))
    assert lp32.dtype == np.float32
    assert all(g.dtype == np.float32 and np.all(np.isfinite(g)) for g in grads)
    lp64 = _log_prob(p)(y, mu, phi)
    err = np.abs(lp32.astype(np.float64) - lp64) / np.maximum(1.0, np.abs(lp64))
    assert err.max() < 1e-4, err.max()


@pytest.mark.parametrize("p", [0.0, 1.0, 1.5, 2.0, 3.0])
def test_tweedie_samples_keep_float32(p):
    mu, phi = jnp.ones(3, jnp.float32), jnp.ones(3, jnp.float32)
    # traced, not compiled: only the dtype is in question here
    draws = jax.eval_shape(lambda key: Tweedie(mu, phi, p).sample(key, (5,)), KEY)
    assert draws.dtype == jnp.float32 and draws.shape == (5, 3)


# ---------------------------------------------------------------------------
# Validation (numpyro semantics)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: InverseGaussian(-1.0, 1.0, validate_args=True),
        lambda: InverseGaussian(1.0, 0.0, validate_args=True),
        lambda: InverseGaussian(jnp.array([1.0, jnp.nan]), 1.0, validate_args=True),
        lambda: Tweedie(0.0, 1.0, 1.5, validate_args=True),
        lambda: Tweedie(1.0, -2.0, 1.5, validate_args=True),
        lambda: Tweedie(jnp.array([1.0, -1.0]), 1.0, 3.0, validate_args=True),
    ],
)
def test_invalid_parameters_raise_value_error_when_validating(make):
    with pytest.raises(ValueError, match="got invalid"):
        make()


@pytest.mark.parametrize(
    "make, value",
    [
        (lambda: InverseGaussian(2.0, 0.5, validate_args=True), [1.0, -1.0]),
        (lambda: Tweedie(2.0, 0.5, 1.5, validate_args=True), [0.0, -1.0]),
        (lambda: Tweedie(2.0, 0.5, 2.0, validate_args=True), [1.0, 0.0]),
    ],
)
def test_out_of_support_value_warns_and_gets_minus_inf_when_validating(make, value):
    # numpyro's validate_sample: a UserWarning, and log_prob masked to -inf
    with pytest.warns(UserWarning, match="Out-of-support"):
        lp = make().log_prob(jnp.array(value))
    assert np.isfinite(lp[0]) and lp[1] == -jnp.inf


def test_in_support_values_do_not_warn_when_validating():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Tweedie(2.0, 0.5, 1.5, validate_args=True).log_prob(jnp.array([0.0, 2.0]))
        InverseGaussian(2.0, 0.5, validate_args=True).log_prob(jnp.array([0.5, 2.0]))


# ---------------------------------------------------------------- Poisson sampler


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("rate", [0.01, 0.5, 3.0, 9.99, 39.99, 40.0, 57.3, 1000.0])
def test_poisson_sampler_frequencies_match_the_pmf(rate, dtype):
    """Chi-square goodness of fit of 50,000 draws against scipy's pmf (tails pooled
    beyond the 1e-4 quantiles), on both sides of the rule at rate 40 (counting up the
    CDF below, JAX's transformed rejection from 40 on)."""
    n = 50_000
    draws = np.asarray(poisson_sample(jax.random.PRNGKey(11), jnp.full(n, rate, dtype)))
    lo, hi = scipy.stats.poisson.ppf([1e-4, 1 - 1e-4], rate)
    inner = np.arange(lo + 1, hi)
    observed = np.r_[np.sum(draws <= lo), [np.sum(draws == k) for k in inner], np.sum(draws >= hi)]
    expected = n * np.r_[scipy.stats.poisson.cdf(lo, rate), scipy.stats.poisson.pmf(inner, rate),
                         scipy.stats.poisson.sf(hi - 1, rate)]
    assert scipy.stats.chisquare(observed, expected).pvalue > 1e-3
    assert np.issubdtype(draws.dtype, np.integer)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("rate", [999.0, 1000.0, 1e5, 1e6])
def test_poisson_sampler_frequencies_match_the_pmf_for_large_rates(rate, dtype):
    """Chi-square of 1,000,000 draws against scipy's pmf, in bins of ⌈√rate / 40⌉
    counts between the 1e-4 quantiles. JAX's transformed rejection (float32 arithmetic
    whatever the rate's dtype) fails this at rate 1e5 (p = 5e-32 there; its
    variance is 2.5% too large at 1e6), so rates from 1,000 on take the
    Cornish–Fisher quantile; 999 is the last one JAX draws."""
    n = 1_000_000
    draws = np.asarray(poisson_sample(jax.random.PRNGKey(13), jnp.full(n, rate, dtype)))
    lo, hi = scipy.stats.poisson.ppf([1e-4, 1 - 1e-4], rate).astype(np.int64)
    width = int(np.ceil(np.sqrt(rate) / 40))
    edges = np.r_[lo : hi : width, hi]  # bin i: edges[i] < draw <= edges[i + 1]; tails pooled
    observed = np.bincount(np.searchsorted(edges, draws, side="left"), minlength=len(edges) + 1)
    expected = n * np.diff(np.r_[0.0, scipy.stats.poisson.cdf(edges, rate), 1.0])
    assert scipy.stats.chisquare(observed, expected).pvalue > 1e-3
    np.testing.assert_allclose(draws.var() / rate, 1.0, atol=4 * np.sqrt(2 / n))


@pytest.mark.parametrize("mean, concentration", [(0.3, 0.5), (3.0, 2.0), (40.0, 20.0)])
def test_negative_binomial_draws_match_scipys_pmf(mean, concentration):
    """NegativeBinomial2.sample: NumPyro's gamma–Poisson mixture with the Poisson drawn
    by poisson_sample; chi-square of 200,000 draws (tails beyond the 1e-4 quantiles
    pooled) against scipy's nbinom(r, r / (r + μ))."""
    from numpyro_glm.distributions import NegativeBinomial2

    n = 200_000
    draws = np.asarray(NegativeBinomial2(mean, concentration).sample(jax.random.PRNGKey(21), (n,)))
    assert draws.shape == (n,) and np.issubdtype(draws.dtype, np.integer)
    law = scipy.stats.nbinom(concentration, concentration / (concentration + mean))
    lo, hi = law.ppf([1e-4, 1 - 1e-4]).astype(np.int64)
    inner = np.arange(lo + 1, hi)
    observed = np.r_[np.sum(draws <= lo), [np.sum(draws == k) for k in inner], np.sum(draws >= hi)]
    expected = n * np.r_[law.cdf(lo), law.pmf(inner), law.sf(hi - 1)]
    assert scipy.stats.chisquare(observed, expected).pvalue > 1e-3


@pytest.mark.parametrize(
    "concentration, dtype",
    [(0.3, jnp.float32), (1.0, jnp.float32), (2.5, jnp.float32), (1e4, jnp.float32), (0.05, jnp.float64),
     (0.3, jnp.float64), (2.5, jnp.float64)],
)
def test_gamma_sampler_matches_scipys_gamma(concentration, dtype):
    """Kolmogorov–Smirnov of 200,000 draws against scipy's gamma, on both sides of the
    boost below 1; at 1e4 in float32 the acceptance test must not cancel."""
    from numpyro_glm.distributions import gamma_sample

    draws = gamma_sample(jax.random.PRNGKey(17), jnp.full(200_000, concentration, dtype))
    assert draws.dtype == dtype
    draws = np.asarray(draws, np.float64)
    assert scipy.stats.kstest(draws, scipy.stats.gamma(concentration).cdf).pvalue > 1e-3


def test_gamma_sampler_flags_bad_shapes_and_never_returns_zero():
    from numpyro_glm.distributions import gamma_sample

    draws = np.asarray(gamma_sample(jax.random.PRNGKey(1), jnp.array([jnp.nan, 0.0, -1.0, 1e-3, 2.0], jnp.float32)))
    assert np.all(np.isnan(draws[:3])) and np.all(draws[3:] > 0)
    # Gamma(0.02) in float32: ~17% of its mass lies below the smallest normal float,
    # returned as that float, not as 0 (outside the support: log_prob would be -inf).
    tiny = np.asarray(gamma_sample(jax.random.PRNGKey(2), jnp.full(10_000, 0.02, jnp.float32)))
    assert tiny.min() == np.finfo(np.float32).tiny
    np.testing.assert_allclose(np.mean(tiny == tiny.min()), scipy.stats.gamma(0.02).cdf(np.finfo(np.float32).tiny),
                               atol=0.015)


def test_gamma_distribution_is_numpyros_with_the_fast_sampler():
    import numpyro.distributions as dist

    from numpyro_glm.distributions import Gamma

    d, reference = Gamma(jnp.array([0.7, 3.0]), jnp.array([2.0, 0.5])), dist.Gamma(jnp.array([0.7, 3.0]),
                                                                                   jnp.array([2.0, 0.5]))
    y = jnp.array([0.3, 4.0])
    np.testing.assert_allclose(d.log_prob(y), reference.log_prob(y), rtol=1e-14)
    draws = np.asarray(d.sample(jax.random.PRNGKey(3), (100_000,)))
    assert draws.shape == (100_000, 2) and not d.has_rsample
    for column, (shape, rate) in enumerate([(0.7, 2.0), (3.0, 0.5)]):
        assert scipy.stats.kstest(draws[:, column], scipy.stats.gamma(shape, scale=1 / rate).cdf).pvalue > 1e-3


def test_float32_uniforms_use_both_halves_of_each_threefry_hash_and_are_uniform():
    """The Poisson sampler's uniforms: two values per threefry2x32 hash of the key's
    own stream (half JAX's cost). Kolmogorov–Smirnov against U(0, 1), no lag-1 or
    between-key correlation (keys under vmap), typed and raw keys alike; other
    key implementations and dtypes take jax.random.uniform itself."""
    from numpyro_glm.distributions import _uniform

    n = 200_001  # odd: the last hash is half used
    for key in (jax.random.PRNGKey(5), jax.random.key(5)):
        u = np.asarray(_uniform(key, (n,), jnp.float32), float)
        assert u.dtype == np.float64 and 0.0 <= u.min() and u.max() < 1.0
        assert scipy.stats.kstest(u, "uniform").pvalue > 1e-3
        assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 4 / np.sqrt(n)
    pair = np.asarray(jax.vmap(lambda k: _uniform(k, (n,), jnp.float32))(jax.random.split(jax.random.PRNGKey(6))))
    assert abs(np.corrcoef(pair[0], pair[1])[0, 1]) < 4 / np.sqrt(n)
    assert np.mean(pair[0] == pair[1]) < 1e-3
    rbg = jax.random.key(5, impl="rbg")
    np.testing.assert_array_equal(_uniform(rbg, (7,), jnp.float32), jax.random.uniform(rbg, (7,), jnp.float32))


def test_poisson_sampler_handles_zero_mixed_and_huge_rates():
    rates = jnp.array([0.0, 0.2, 15.0, 3.0, 1e6])
    draws = np.asarray(poisson_sample(jax.random.PRNGKey(2), jnp.tile(rates, (2000, 1))))
    assert np.all(draws[:, 0] == 0)
    # Prior predictive draws meet absurd rates: they must return (no endless search).
    extreme = np.asarray(poisson_sample(jax.random.PRNGKey(3), jnp.array([1e9, 1e30, jnp.inf, jnp.nan, 2e7] * 200)))
    big = extreme.reshape(200, 5)
    np.testing.assert_allclose(big[:, 0].mean(), 1e9, rtol=1e-4)
    np.testing.assert_allclose(big[:, 4].std(), np.sqrt(2e7), rtol=0.15)
    assert np.all(big[:, 1] == np.iinfo(extreme.dtype).max) and np.all(big[:, 2] == np.iinfo(extreme.dtype).max)
    assert np.all(big[:, 3] == -1)
    np.testing.assert_allclose(draws.mean(0)[1:], np.asarray(rates)[1:], rtol=0.05)
    np.testing.assert_allclose(draws.var(0)[1:], np.asarray(rates)[1:], rtol=0.15)


def test_poisson_count_stops_for_uniforms_beyond_the_floating_point_total():
    """In float32 the pmf's running sum for rate 1 stops growing below 1 − 6e-8: the
    largest uniform must get the quantile there (scipy's 10), not count on while a
    rate near 40 keeps the loop running, and the loop must end."""
    from numpyro_glm.distributions import _count_from_zero

    top = np.nextafter(np.float32(1), np.float32(0))
    u = jnp.array([top, top, 0.3, 0.999], jnp.float32)
    lam = jnp.array([1.0, 39.9, 39.9, 0.01], jnp.float32)
    k = np.asarray(_count_from_zero(u, lam))
    assert k[0] == scipy.stats.poisson.ppf(1 - 6e-8, 1.0)
    assert 60 <= k[1] <= scipy.stats.poisson.ppf(1 - 6e-8, 39.9) + 16
    np.testing.assert_array_equal(k[2:], scipy.stats.poisson.ppf([0.3, 0.999], [39.9, 0.01]))


def test_poisson_distribution_is_numpyros_with_the_fast_sampler():
    import numpyro.distributions as dist

    import numpyro_glm as glm

    d = glm.Poisson().distribution(jnp.array([0.5, 2.0, 40.0]))
    assert isinstance(d, Poisson) and isinstance(d, dist.Poisson)
    assert d.sample(jax.random.PRNGKey(0), (7,)).shape == (7, 3)
    y = jnp.array([0.0, 3.0, 41.0])
    np.testing.assert_allclose(d.log_prob(y), dist.Poisson(jnp.array([0.5, 2.0, 40.0])).log_prob(y), rtol=1e-12)
