"""The negative binomial's written-out derivatives in α against independent oracles:
scipy's digamma and trigamma, JAX's autodiff of the log-pmf, and the Poisson limit.

The fitter (``irls.solve_negative_binomial``) and the implicit derivative of an NB fit
with estimated α use these instead of autodiff of log Γ, which was slow to compile.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from numpyro_glm import NegativeBinomial, irls
from numpyro_glm.distributions import _stirling_remainder, _stirling_remainder_derivatives


def test_stirling_remainder_derivatives_match_scipys_polygamma_and_autodiff():
    x = np.array([1e-6, 0.01, 0.3, 1.0, 2.5, 7.0, 14.99, 15.0, 15.01, 40.0, 300.0])
    first, second = (np.asarray(a) for a in _stirling_remainder_derivatives(jnp.asarray(x)))
    # Where the difference does not cancel badly (x small), scipy's functions are the oracle.
    small = x < 5
    np.testing.assert_allclose(first[small], (special.digamma(x) - np.log(x) + 0.5 / x)[small], rtol=1e-12)
    np.testing.assert_allclose(second[small], (special.polygamma(1, x) - 1 / x - 0.5 / x**2)[small], rtol=1e-12)
    # Everywhere: autodiff of the remainder itself (its series for x >= 15).
    grad = jax.jit(jax.vmap(jax.grad(_stirling_remainder)))
    np.testing.assert_allclose(first, grad(jnp.asarray(x)), rtol=1e-11)
    second_grad = jax.jit(jax.vmap(jax.grad(jax.grad(_stirling_remainder))))
    np.testing.assert_allclose(second, second_grad(jnp.asarray(x)), rtol=1e-10)
    # Tiny and of one sign for large x: δ'(x) ≈ −1/(12x²), δ''(x) ≈ 1/(6x³).
    big = jnp.asarray([1e4, 1e8])
    first_big, second_big = _stirling_remainder_derivatives(big)
    np.testing.assert_allclose(first_big, -1 / (12 * big**2), rtol=1e-8)
    np.testing.assert_allclose(second_big, 1 / (6 * big**3), rtol=1e-8)


def _data():
    rng = np.random.default_rng(3)
    mu = rng.uniform(0.5, 20.0, 60)
    y = rng.negative_binomial(2.0, 2.0 / (2.0 + mu)).astype(float)
    weights = rng.uniform(0.5, 2.0, 60)
    weights[:3] = 0.0  # rows with weight 0 contribute nothing
    return jnp.asarray(y), jnp.asarray(mu), jnp.asarray(weights)


def _row_loglik(y, mu, weights, s):
    family = NegativeBinomial(alpha=jnp.exp(s))
    return jnp.where(weights > 0, family.log_prob(y, mu, weights=weights), 0.0)


@jax.jit
def _autodiff_alpha_derivatives(y, mu, weights, s):
    """(∂ℓ/∂s, ∂²ℓ/∂s², ∂²ℓ/∂s∂μ) per row by autodiff of the log-pmf (jitted, and with
    the data as arguments, so every α shares one compilation)."""
    def d_s(s):
        return jax.jacfwd(_row_loglik, argnums=3)(y, mu, weights, s)

    def d_mu(s):  # each row's ∂ℓ/∂μ (the rows are independent)
        return jax.grad(lambda m: jnp.sum(_row_loglik(y, m, weights, s)))(mu)

    return d_s(s), jax.jacfwd(d_s)(s), jax.jacfwd(d_mu)(s)


@pytest.mark.parametrize("log_alpha", [-2.0, 1.5])
def test_alpha_derivatives_match_autodiff_of_the_log_pmf(log_alpha):
    y, mu, weights = _data()
    s = jnp.asarray(log_alpha)
    ds, dss, dsmu = irls._nb_log_alpha_derivatives(y, mu, weights, s)
    expected = _autodiff_alpha_derivatives(y, mu, weights, s)
    np.testing.assert_allclose(ds, expected[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dss, expected[1], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(dsmu, expected[2], rtol=1e-9, atol=1e-12)


def test_alpha_score_keeps_its_accuracy_in_the_poisson_limit():
    # As α → 0: ∂ℓ/∂(log α) = α Σ w[(y − μ)² − y]/2 + O(α²). Autodiff of the log-pmf
    # (differences of digammas) loses every digit here; the sign decides whether the
    # data are overdispersed at all.
    y, mu, weights = _data()
    for alpha in [1e-6, 1e-9]:
        score = irls._nb_alpha_score(y, mu, weights, jnp.log(alpha))
        limit = alpha * np.sum(np.asarray(weights) * ((np.asarray(y) - np.asarray(mu)) ** 2 - np.asarray(y))) / 2
        np.testing.assert_allclose(score, limit, rtol=1e-4)


def test_joint_score_and_hessian_match_autodiff_of_the_log_likelihood():
    rng = np.random.default_rng(4)
    X = jnp.asarray(np.column_stack([np.ones(80), rng.normal(size=(80, 2))]))
    y = jnp.asarray(rng.poisson(np.exp(np.asarray(X) @ [1.0, 0.3, -0.2]) * rng.gamma(2.0, 0.5, 80)).astype(float))
    weights, offset = jnp.asarray(rng.uniform(0.5, 2.0, 80)), jnp.asarray(rng.normal(0, 0.1, 80))
    # The identity link: dμ/dη ≠ μ, so the cross term's chain rule is exercised (the
    # log link's Hessian is checked through α's standard error against statsmodels).
    for link, point in [("identity", [3.0, 0.2, 0.2, np.log(0.4)])]:
        family, point = NegativeBinomial(link=link), jnp.asarray(point)
        gradient, hessian = irls._nb_score_and_hessian(family, point, X, y, weights, offset)

        @jax.jit
        def oracle(p):
            objective = lambda p: irls._nb_objective(p, X, y, weights, offset, family.link)  # noqa: E731
            return jax.grad(objective)(p), jax.hessian(objective)(p)

        expected_gradient, expected_hessian = oracle(point)
        np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(hessian, expected_hessian, rtol=1e-9, atol=1e-9)


def test_float32_fit_estimates_alpha_like_statsmodels_in_float64():
    # float32 once lost y − μ inside r + y and r + μ (r = 1/α ~ 5e8 at the search's
    # lower end), read the score's sign wrongly and reported α ≈ 1e-19 as converged.
    from statsmodels.discrete.discrete_model import NegativeBinomial as SMNegativeBinomial

    import numpyro_glm as glm

    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(500), rng.normal(size=(500, 2))])
    mu = np.exp(X @ [1.0, 0.3, -0.2])
    y = rng.negative_binomial(2, 2 / (2 + mu)).astype(float)
    wide = SMNegativeBinomial(y, X, loglike_method="nb2").fit(method="newton", tol=1e-12, maxiter=200, disp=0)
    narrow = glm.fit(X.astype(np.float32), y.astype(np.float32), NegativeBinomial())
    assert narrow.coef.dtype == np.float32 and int(narrow.status) == 0
    np.testing.assert_allclose(narrow.alpha, wide.params[-1], rtol=1e-4)
    np.testing.assert_allclose(narrow.coef, wide.params[:-1], rtol=1e-4)
    np.testing.assert_allclose(narrow.alpha_se, wide.bse[-1], rtol=2e-3)
