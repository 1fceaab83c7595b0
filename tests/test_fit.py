"""fit(): implicit-function gradients, batches, hard cases, bad input, and the result's methods.

(Agreement with statsmodels on every family x link is in test_fit_vs_statsmodels.py.)
"""

import warnings
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

import numpyro_glm as glm
from numpyro_glm import Status

RNG = np.random.default_rng(7)
N = 40
X = np.column_stack([np.ones(N), RNG.normal(size=(N, 2))])
OFFSET = RNG.normal(0, 0.1, N)
WEIGHTS = RNG.uniform(0.5, 2.0, N)
TRIALS = RNG.integers(3, 9, N).astype(float)


def simulate(family, coef=(0.3, 0.4, -0.3)):
    """A response for ``family`` whose mean comes from its own link (kept in range).

    Seeded by the family's repr, so a test sees the same data alone or in the suite.
    """
    RNG = np.random.default_rng(zlib.crc32(repr(family).encode()))  # noqa: N806
    link = family.link
    eta = X @ np.asarray(coef)
    name = family.name
    if name in ("bernoulli", "binomial"):
        mu = np.clip(np.asarray(link.inverse(eta)), 0.05, 0.95)
        # Links whose valid range ends inside (0, 1) need a mean well away from that
        # end, or the MLE sits on the boundary (Status.BOUNDARY) with a non-zero score.
        if link.name in ("log", "logc", "identity"):
            mu = {"log": 0.25, "logc": 0.7, "identity": 0.5}[link.name] + 0.1 * np.tanh(eta)
        n = TRIALS if name == "binomial" else 1
        return RNG.binomial(np.broadcast_to(n, mu.shape).astype(int), mu).astype(float)
    if link.name == "cloglog":  # counts with a mean in (0, 1)
        mu = np.asarray(link.inverse(eta - 0.5))
    elif link.name in ("identity", "sqrt", "softplus"):
        mu = 2.0 + np.abs(eta)
    elif link.name in ("inverse", "inverse_squared"):
        mu = 1.0 / (0.5 + 0.1 * np.abs(eta))
    else:
        mu = np.exp(np.clip(eta, -2, 2))
    if name == "gaussian":
        return mu + RNG.normal(0, 0.3, N)
    if name == "poisson":
        return RNG.poisson(mu).astype(float)
    if name == "negative_binomial":
        return RNG.negative_binomial(2.0, 2.0 / (2.0 + mu)).astype(float)
    if name == "gamma":
        return RNG.gamma(4.0, mu / 4.0)
    if name == "inverse_gaussian":
        return RNG.wald(mu, 8.0)
    if name == "tweedie":
        y = RNG.gamma(2.0, mu / 2.0)
        y[RNG.uniform(size=N) < 0.2] = 0.0
        return y
    raise KeyError(name)


# Every family with its default link, plus the non-canonical links most used, run on
# CI; the rest of the family × link matrix is marked slow (compiling a fit and its
# JVP costs ~10 s per pair on 2 cores): run it with `python -m pytest -m slow`.
ON_CI = {"gaussian-identity", "bernoulli-logit", "bernoulli-probit", "binomial-cloglog", "poisson-log",
         "gamma-log", "inverse_gaussian-inverse_squared", "negative_binomial-log", "tweedie-log"}


def _pairs():
    pairs = []
    for family in [glm.Gaussian(), glm.Bernoulli(), glm.Binomial(), glm.Poisson(), glm.Gamma(),
                   glm.InverseGaussian(), glm.NegativeBinomial(alpha=0.5), glm.Tweedie(1.5)]:
        for link in family.allowed_links:
            pair = family.replace(link=link)
            marks = () if f"{family.name}-{link}" in ON_CI else (pytest.mark.slow,)
            pairs.append(pytest.param(pair, marks=marks, id=repr(pair)))
    pairs.append(pytest.param(glm.NegativeBinomial(), id="NegativeBinomial(alpha=None)"))  # estimated alpha
    return pairs


def _trials(family):
    return TRIALS if family.name == "binomial" else None


# ---------------------------------------------------------------- gradients


def _check_directional_derivatives(f, args, y_upper=np.inf, rtol=1e-5):
    """Forward-mode derivatives of f along a random direction in each argument,
    against central differences of refits.

    ``f`` returns (value, status). One compiled function serves everything: it
    returns the value, the fit's status and the four directional derivatives at a
    point, so the finite differences and the convergence check reuse it (each more
    compile of the fit would cost as much again)."""
    directions = [RNG.normal(size=np.shape(a)) for a in args]
    y = np.asarray(args[1])
    # Rows on the edge of y's support (0, or n trials) stay fixed.
    directions[1] = np.where((y > 0) & (y < y_upper), directions[1], 0.0)
    steps = np.array([1e-5 * max(1.0, float(np.max(np.abs(a)))) for a in args])

    def along(t):
        return f(*(a + t_i * d for a, t_i, d in zip(args, t, directions)))

    @jax.jit
    def value_and_derivatives(t):
        values, derivatives, status = jax.vmap(lambda v: jax.jvp(along, (t,), (v,), has_aux=True))(
            jnp.eye(4, dtype=t.dtype))
        return values[0], derivatives, status[0]

    _, derivatives, status = value_and_derivatives(jnp.zeros(4))
    assert int(status) == Status.CONVERGED, Status(int(status))
    for k, name in enumerate(["X", "y", "weights", "offset"]):
        e = np.zeros(4)
        e[k] = steps[k]
        fd = (value_and_derivatives(e)[0] - value_and_derivatives(-e)[0]) / (2 * steps[k])
        np.testing.assert_allclose(derivatives[k], fd, rtol=rtol, atol=1e-7 * max(1.0, abs(float(fd))),
                                   err_msg=f"derivative with respect to {name}")


@pytest.mark.parametrize("family", _pairs())
def test_gradients_match_finite_differences_of_refits(family):
    y = simulate(family)
    trials = _trials(family)

    def summary_of_fit(X_, y_, w_, o_):
        # Inside jit the inputs are traced, so validation is skipped and perturbed
        # counts are allowed.
        result = glm.fit(X_, y_, family, weights=w_, offset=o_, trials=trials, tol=1e-12, init=init)
        value = result.coef @ jnp.array([1.0, -0.7, 0.4])
        if result.alpha is not None:
            value = value + result.alpha
        return value, result.status

    # Start every fit from the constant mean (links such as binomial-log need a valid
    # start, as in R; the gradient does not depend on it).
    mean = float(np.mean(y / (TRIALS if trials is not None else 1.0)))
    init = np.r_[float(family.link(mean)) - float(np.mean(OFFSET)), 0.0, 0.0]
    if family.name == "bernoulli":
        # 0/1 responses have no interior to perturb: differentiate at proportions
        # (the quasi-binomial score is the same function of y).
        y = 0.25 + 0.5 * y
    y_upper = {"bernoulli": 1.0, "binomial": TRIALS}.get(family.name, np.inf)
    args = (jnp.asarray(X), jnp.asarray(y), jnp.asarray(WEIGHTS), jnp.asarray(OFFSET))
    _check_directional_derivatives(summary_of_fit, args, y_upper=y_upper)


def test_grad_jacfwd_jacrev_and_vmap_grad_agree():
    family = glm.Gamma(link="log")
    y = jnp.asarray(simulate(family))

    def coef(y_):
        return glm.fit(X, y_, family).coef

    jac_fwd = jax.jacfwd(coef)(y)
    jac_rev = jax.jacrev(coef)(y)
    np.testing.assert_allclose(jac_fwd, jac_rev, rtol=1e-10)
    grad0 = jax.grad(lambda y_: coef(y_)[0])(y)
    np.testing.assert_allclose(grad0, jac_fwd[0], rtol=1e-10)
    ys = jnp.stack([y, 1.1 * y])
    grads = jax.vmap(jax.grad(lambda y_: coef(y_)[1]))(ys)
    np.testing.assert_allclose(grads[0], jac_fwd[1], rtol=1e-8)


def test_non_canonical_gradient_uses_the_observed_hessian():
    """The expected-information 'gradient' is wrong for Gamma-log; ours matches refits."""
    family = glm.Gamma(link="log")
    y = simulate(family)
    f = jax.jit(lambda y_: glm.fit(X, y_, family, tol=1e-12).coef[1])
    g = jax.grad(f)(jnp.asarray(y))
    j = 5
    step = 1e-6
    e = np.zeros(N)
    e[j] = step
    np.testing.assert_allclose(g[j], (f(y + e) - f(y - e)) / (2 * step), rtol=1e-5)
    # The expected-information answer, (XᵀWX)⁻¹ Xᵀ W dz/dy, differs noticeably:
    fit = glm.fit(X, y, family)
    w = np.asarray(fit.mu) ** 0  # Gamma-log working weights are 1
    expected_info = np.linalg.solve(X.T @ (X * w[:, None]), X.T * (1.0 / np.asarray(fit.mu)))[1, j]
    assert abs(expected_info - float(g[j])) > 1e-3 * abs(float(g[j]))


# ---------------------------------------------------------------- batches


def test_vmap_over_y_x_weights_and_offset_matches_single_fits():
    family = glm.Poisson()
    ys = jnp.stack([simulate(family) for _ in range(3)])
    batch = jax.vmap(lambda y_: glm.fit(X, y_, family))(ys)
    for i in range(3):
        single = glm.fit(X, ys[i], family)
        np.testing.assert_allclose(batch.coef[i], single.coef, rtol=1e-10)
        np.testing.assert_allclose(batch.se[i], single.se, rtol=1e-10)
    Xs = jnp.stack([X, X * np.array([1.0, 2.0, 1.0])])
    y = ys[0]
    coefs = jax.vmap(lambda X_: glm.fit(X_, y, family).coef)(Xs)
    np.testing.assert_allclose(coefs[1] * np.array([1.0, 2.0, 1.0]), coefs[0], rtol=1e-8)
    ws = jnp.stack([WEIGHTS, 2 * WEIGHTS])
    coefs = jax.vmap(lambda w_: glm.fit(X, y, family, weights=w_).coef)(ws)
    np.testing.assert_allclose(coefs[0], coefs[1], rtol=1e-8)  # scaling weights leaves β̂ alone
    offsets = jnp.stack([OFFSET, OFFSET + 1.0])
    coefs = jax.vmap(lambda o_: glm.fit(X, y, family, offset=o_).coef)(offsets)
    np.testing.assert_allclose(coefs[0][0] - 1.0, coefs[1][0], rtol=1e-8)


def test_one_bad_batch_member_does_not_abort_the_batch():
    family = glm.Bernoulli()
    good = simulate(family)
    separated = (X[:, 1] > 0).astype(float)
    batch = jax.vmap(lambda y_: glm.fit(X, y_, family))(jnp.stack([good, separated]))
    assert int(batch.status[0]) == Status.CONVERGED and bool(batch.converged[0])
    assert int(batch.status[1]) == Status.SEPARATION and not bool(batch.converged[1])
    np.testing.assert_allclose(batch.coef[0], glm.fit(X, good, family).coef, rtol=1e-10)


def test_fit_result_is_a_pytree_that_jit_returns_and_holds_no_copy_of_x():
    family = glm.Poisson()
    y = simulate(family)
    result = jax.jit(lambda y_: glm.fit(X, y_, family))(y)
    assert isinstance(result, glm.GLMFit)
    leaves = jax.tree_util.tree_leaves(result)
    assert not any(np.shape(leaf) == X.shape for leaf in leaves)
    assert result.family == family


@pytest.mark.parametrize("shape", [(40, 3), (12000, 20), (8000, 30)], ids=["pair-products", "blocked", "one-dot"])
def test_weighted_gram_and_products_match_numpy_in_every_layout(shape):
    from numpyro_glm import irls

    rng = np.random.default_rng(3)
    X_, w, v = rng.normal(size=shape), rng.uniform(size=shape[0]), rng.normal(size=shape[0])
    np.testing.assert_allclose(irls._weighted_gram(jnp.asarray(X_), jnp.asarray(w)), X_.T @ (X_ * w[:, None]),
                               rtol=1e-12, atol=1e-12 * shape[0])
    np.testing.assert_allclose(irls._transpose_times(jnp.asarray(X_), jnp.asarray(v)), X_.T @ v,
                               rtol=1e-12, atol=1e-12 * shape[0])
    gram, product = irls._weighted_products(jnp.asarray(X_), jnp.asarray(w), jnp.asarray(v))
    np.testing.assert_allclose(gram, X_.T @ (X_ * w[:, None]), rtol=1e-12, atol=1e-12 * shape[0])
    np.testing.assert_allclose(product, X_.T @ (w * v), rtol=1e-12, atol=1e-12 * shape[0])


def test_singular_weighted_gram_retries_with_a_ridge_and_reports_rank_deficient():
    """A dummy whose rows all get weight 0 (as a bootstrap resample can do) makes XᵀWX
    singular: that member is RANK_DEFICIENT with the other coefficients exact, and the
    rest of the batch is untouched."""
    from numpyro_glm import irls

    family = glm.Poisson()
    y = simulate(family)
    dummy = (np.arange(N) < 5).astype(float)
    X_dummy = np.column_stack([X, dummy])
    w_drop = np.where(dummy == 1, 0.0, 1.0)
    batch = jax.vmap(lambda w_: irls.solve(X_dummy, y, family, w_))(jnp.stack([np.ones(N), w_drop]))
    assert [int(s) for s in batch.status] == [Status.CONVERGED, Status.RANK_DEFICIENT]
    full = sm.GLM(y, X_dummy, family=sm.families.Poisson()).fit(tol=1e-12)
    np.testing.assert_allclose(batch.coef[0], full.params, rtol=1e-8)
    reduced = sm.GLM(y[5:], X[5:], family=sm.families.Poisson()).fit(tol=1e-12)
    np.testing.assert_allclose(batch.coef[1, :3], reduced.params, rtol=1e-7)
    assert np.all(np.isfinite(batch.coef[1]))


# ---------------------------------------------------------------- hard cases


def test_rank_deficient_design_gets_nan_for_aliased_columns_and_exact_rest():
    family = glm.Poisson()
    y = simulate(family)
    X_aliased = np.column_stack([X, 2 * X[:, 1] - X[:, 2]])
    with pytest.warns(UserWarning, match=r"rank deficient: column\(s\) \['x3'\]"):
        result = glm.fit(X_aliased, y, family)
    reference = glm.fit(X, y, family)
    assert np.isnan(result.coef[3]) and np.isnan(result.se[3])
    np.testing.assert_allclose(result.coef[:3], reference.coef, rtol=1e-12)
    np.testing.assert_allclose(result.se[:3], reference.se, rtol=1e-12)
    np.testing.assert_allclose(result.deviance, reference.deviance, rtol=1e-12)
    np.testing.assert_allclose(result.predict(X_aliased[:4]), reference.predict(X[:4]), rtol=1e-12)


def test_aliasing_found_after_the_fit_is_x_own_check(monkeypatch):
    """fit checks X's values after the fit, from its XᵀWX, and runs the host check of X
    (XᵀX, R's rule) only when XᵀWX cannot rule out what that check would find: a
    full-rank design never pays for it, and a near-aliased one (residual ratio 3e-8
    in XᵀX, ~1e-7 or more in XᵀWX when the weights vary) still gets R's answer."""
    import importlib

    fit_module = importlib.import_module("numpyro_glm.fit")  # the module, not the function
    family = glm.Poisson()
    y = simulate(family)
    calls = []
    check = fit_module._check_design
    monkeypatch.setattr(fit_module, "_check_design", lambda *a: calls.append(1) or check(*a))
    glm.fit(X, y, family)
    assert calls == []

    rng = np.random.default_rng(5)
    near = 2 * X[:, 1] - X[:, 2] + 3e-8 * rng.normal(size=N)
    X_near = np.column_stack([X, near])
    assert check(X_near, np.ones(N, bool)).tolist() == [False, False, False, True]
    with pytest.warns(UserWarning, match=r"rank deficient: column\(s\) \['x3'\]"):
        result = glm.fit(X_near, y, family, weights=rng.uniform(0.01, 100, N))
    assert calls == [1] and np.isnan(result.coef[3])
    # Not aliased for R's rule (ratio ~3e-6): kept, though the host check ran.
    X_apart = np.column_stack([X, 2 * X[:, 1] - X[:, 2] + 3e-6 * rng.normal(size=N)])
    assert check(X_apart, np.ones(N, bool)).tolist() == [False] * 4
    assert np.all(np.isfinite(glm.fit(X_apart, y, family).coef))


@pytest.mark.parametrize("family", [glm.Poisson(link="sqrt"), glm.Gamma(link="log")], ids=repr)
def test_a_fixed_weighted_gram_is_formed_once_with_the_same_fit_and_gradients(family):
    """For a link that makes the IRLS weights constant (η = μ^(1−v/2) for V = μᵛ) the
    solver factors XᵀWX once; the iterations, fit and gradients are those of the
    general path, which forms it in every iteration. (A subclass takes the general
    path: it may change the variance. Being another static family, it is also traced
    and compiled anew rather than reusing the first path's cached traces.)"""
    from numpyro_glm import irls

    general = type("General" + type(family).__name__, (type(family),), {})(link=family.link)
    y = jnp.asarray(simulate(family))
    assert irls._constant_working_weights(family) and not irls._constant_working_weights(general)

    def fitted(X_, y_, family_):
        result = glm.fit(X_, y_, family_)
        return result.coef, result.se, result.deviance, result.n_iter

    def gradient(X_, y_, family_):
        def summary(X__):
            result = glm.fit(X__, y_, family_)
            return jnp.sum(result.se) + jnp.sum(result.coef)

        return jax.grad(summary)(X_)

    once, every = ((jax.jit(fitted, static_argnums=2)(jnp.asarray(X), y, family_),
                    jax.jit(gradient, static_argnums=2)(jnp.asarray(X), y, family_)) for family_ in (family, general))
    assert int(once[0][3]) == int(every[0][3])
    for a, b in zip(jax.tree_util.tree_leaves(once), jax.tree_util.tree_leaves(every)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_newton_polish_stops_once_a_step_changes_nothing():
    """A non-canonical fit gets Newton steps after IRLS; a second only while the first
    still moved η by more than √eps. Either way the result is the MLE: the score
    is zero to rounding, and one more Newton step moves nothing."""
    from numpyro_glm import irls

    family = glm.Gamma(link="log")
    rng = np.random.default_rng(11)
    n = 5000
    X_big = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    y = rng.gamma(2.0, np.exp(X_big @ np.array([0.5, 0.2, -0.1, 0.1])) / 2.0)
    result = irls.solve(X_big, y, family)
    ones = jnp.ones(n)
    d1, _ = irls._row_derivatives(family, result.eta, jnp.asarray(y), ones)
    assert np.max(np.abs(X_big.T @ np.asarray(d1))) < 1e-9 * n
    state = irls._State(result.coef, result.eta, result.mu, result.deviance, result.deviance, result.n_iter,
                        result.status, True, False, False)
    again = irls._newton_polish(family, jnp.asarray(X_big), jnp.zeros(n), jnp.asarray(y), ones, state, steps=1)
    np.testing.assert_allclose(again.coef, result.coef, rtol=1e-13)


@pytest.mark.parametrize("family", [glm.Poisson(), glm.Binomial(), glm.Gamma(link="log")], ids=lambda f: f.name)
def test_many_rows_start_from_a_subsample_fit_and_reach_the_same_mle(family):
    """At n ≥ 65,536 IRLS starts from a fit to every 32nd row: fewer passes over all
    rows, the same MLE as statsmodels (tol 1e-12), with weights, offset and trials."""
    from numpyro_glm import irls

    n, beta = 70_000, np.array([0.3, 0.2, -0.3, 0.1, 0.05])
    assert irls._subsample_stride(n, 5) == 32 and irls._subsample_stride(65_535, 5) == 0
    rng = np.random.default_rng(5)
    X_big = np.column_stack([np.ones(n), rng.normal(size=(n, 4))])
    offset = 0.2 * rng.normal(size=n)
    weights = rng.uniform(0.5, 2.0, n)
    mu = np.exp(X_big @ beta + offset)
    trials = None
    if isinstance(family, glm.Binomial):
        trials = rng.integers(1, 6, n).astype(float)
        y = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-(X_big @ beta + offset)))).astype(float)
        reference = sm.GLM(np.column_stack([y, trials - y]), X_big, family=sm.families.Binomial(), offset=offset,
                           var_weights=weights)
    elif isinstance(family, glm.Poisson):
        y = rng.poisson(mu).astype(float)
        reference = sm.GLM(y, X_big, family=sm.families.Poisson(), offset=offset, var_weights=weights)
    else:
        y = rng.gamma(2.0, mu / 2.0)
        reference = sm.GLM(y, X_big, family=sm.families.Gamma(sm.families.links.Log()), offset=offset,
                           var_weights=weights)
    expected = reference.fit(tol=1e-12)
    result = glm.fit(X_big, y, family, weights=weights, offset=offset, trials=trials)
    # Exact to rounding: a canonical link's fit ends with irls.newton_correction, a
    # non-canonical one's with the Newton polish.
    np.testing.assert_allclose(result.coef, expected.params, rtol=1e-10)
    np.testing.assert_allclose(result.se, expected.bse, rtol=1e-7)
    np.testing.assert_allclose(result.deviance, expected.deviance, rtol=1e-12)

    cold = irls.solve(X_big, y, family, weights, offset, trials, warm_start=False)  # from R's mustart
    assert int(result.status) == int(cold.status) == Status.CONVERGED
    assert int(result.n_iter) < int(cold.n_iter)
    np.testing.assert_allclose(result.coef, cold.coef, rtol=1e-7)
    corrected = irls.finishes_with_newton_correction(family, X_big.shape, None, True)
    assert corrected == (not isinstance(family, glm.Gamma)) and not irls.finishes_with_newton_correction(
        family, (65_535, 5), None, True)

    # A subsample that cannot be fitted (every 32nd row has weight 0: a singular
    # XᵀWX) falls back to mustart: the same iterations as without a warm start.
    holes = weights.copy()
    holes[::32] = 0.0
    fallback = glm.fit(X_big, y, family, weights=holes, offset=offset, trials=trials)
    cold = irls.solve(X_big, y, family, holes, offset, trials, warm_start=False)
    assert int(fallback.n_iter) == int(cold.n_iter)
    # (fit's Newton correction, static, still runs for a canonical link: not bit for bit.)
    np.testing.assert_allclose(fallback.coef, cold.coef, rtol=1e-9)


def test_the_warm_start_refining_step_lands_closer_to_the_mle():
    """The subsample fit (every 32nd row) refined by one step on every 8th row is
    nearer β̂, in the information metric, than the subsample fit alone; and a family
    with a fixed XᵀWX (Gamma-log) does not refine."""
    from numpyro_glm import irls

    n = 70_000
    rng = np.random.default_rng(11)
    X_big = np.column_stack([np.ones(n), rng.normal(size=(n, 4))])
    y = rng.poisson(np.exp(X_big @ np.array([0.3, 0.2, -0.3, 0.1, 0.05]))).astype(float)
    family, ones, zeros = glm.Poisson(), jnp.ones(n), jnp.zeros(n)
    eta0 = jnp.log(jnp.asarray(y) + 0.1)  # R's mustart
    mle = glm.fit(X_big, y, family)
    information = np.linalg.inv(np.asarray(mle.cov))
    distance = {}
    for refine in (False, True):
        start = irls._subsample_fit(family, jnp.asarray(X_big), jnp.asarray(y), ones, zeros, eta0, 32, refine)
        gap = np.asarray(start) - np.asarray(mle.coef)
        distance[refine] = float(gap @ information @ gap)  # squared standard errors
    assert distance[True] < 0.5 * distance[False]
    assert not irls._constant_working_weights(family) and irls._constant_working_weights(glm.Gamma(link="log"))


@pytest.mark.parametrize("make", [lambda X: X, lambda X: X.astype(np.float32), np.asfortranarray,
                                  lambda X: np.round(X * 10).astype(np.int64)],
                         ids=["float64", "float32", "fortran", "int64"])
def test_host_matrix_is_an_exact_aligned_copy_made_in_parallel_blocks(make):
    from numpyro_glm.fit import _PARALLEL_COPY_BYTES, _host_matrix

    X_big = make(np.random.default_rng(0).normal(size=(120_001, 20))[:, 1:])  # unaligned, 19 columns
    copy = _host_matrix(X_big)
    assert copy.nbytes >= _PARALLEL_COPY_BYTES  # the threaded path
    assert copy.ctypes.data % 64 == 0 and copy.flags.c_contiguous
    assert copy.dtype == (np.float32 if X_big.dtype == np.float32 else np.float64)
    np.testing.assert_array_equal(copy, X_big)
    assert _host_matrix(copy) is copy  # already aligned: no copy


def test_separation_is_flagged_warned_and_not_called_converged():
    separated = (X[:, 1] > 0).astype(float)
    with pytest.warns(UserWarning, match="separation"):
        result = glm.fit(X, separated, glm.Bernoulli())
    assert int(result.status) == Status.SEPARATION
    assert not bool(result.converged)
    assert np.all(np.isfinite(result.coef))


def test_non_convergence_warns_and_reports_converged_false():
    y = simulate(glm.Gamma(link="log"))
    with pytest.warns(UserWarning, match="did not converge in 1 iterations"):
        result = glm.fit(X, y, glm.Gamma(link="log"), max_iter=1)
    assert int(result.status) == Status.MAX_ITER and not bool(result.converged) and int(result.n_iter) == 1


def test_step_halving_rescues_an_identity_link_poisson_from_a_bad_start():
    # Identity-link Poisson: a full IRLS step from this start gives negative means.
    x = np.linspace(0, 1, N)
    Xi = np.column_stack([np.ones(N), x])
    y = np.random.default_rng(3).poisson(1.0 + 5 * x).astype(float)
    result = glm.fit(Xi, y, glm.Poisson(link="identity"), init=np.array([3.0, 0.1]))
    reference = sm.GLM(y, Xi, family=sm.families.Poisson(sm.families.links.Identity())).fit(
        start_params=[0.5, 4.0], tol=1e-12
    )
    assert int(result.status) == Status.CONVERGED
    assert np.all(np.asarray(result.mu) > 0)
    np.testing.assert_allclose(result.coef, reference.params, rtol=1e-6)


def test_negative_binomial_alpha_does_not_collapse_and_stays_finite_on_poisson_data():
    y = RNG.poisson(np.exp(X @ np.array([1.0, 0.3, -0.2]))).astype(float)
    result = glm.fit(X, y, glm.NegativeBinomial())
    assert np.isfinite(float(result.alpha)) and float(result.alpha) > 0
    assert int(result.status) == Status.CONVERGED
    np.testing.assert_allclose(result.coef, glm.fit(X, y, glm.Poisson()).coef, atol=0.05)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(y=np.ones(N - 1)), "X has 40 rows but y has 39"),
        (dict(X=X[:, 0]), "X must be a 2-D design matrix"),
        (dict(X=np.where(np.arange(N)[:, None] == 3, np.nan, X)), r"X must be finite .* rows \[3\]"),
        (dict(X=np.where(np.arange(N)[:, None] == 7, -np.inf, X), weights=np.r_[np.zeros(10), np.ones(N - 10)]),
         r"X must be finite .* rows \[7\]"),  # zero-weight rows of X are checked too
        (dict(y=np.r_[np.nan, np.ones(N - 1)]), r"y must be finite .* rows \[0\]"),
        (dict(y=np.r_[-1.0, np.ones(N - 1)]), r"y must be non-negative counts.* rows \[0\]"),
        (dict(weights=np.r_[1.0, -1.0, np.ones(N - 2)]), r"weights must be non-negative.* rows \[1\]"),
        (dict(weights=np.ones(3)), r"weights must have shape \(40,\)"),
        (dict(offset=np.r_[np.inf, np.zeros(N - 1)]), r"offset must be finite.* rows \[0\]"),
        (dict(exposure=np.r_[1.0, 0.0, np.ones(N - 2)]), r"exposure must be positive and finite.* rows \[1\]"),
        (dict(family=glm.Poisson(link="sqrt"), exposure=np.ones(N)), "exposure needs the log link"),
        (dict(trials=np.ones(N)), "trials is only used by the binomial family"),
        (dict(family=glm.Binomial()), "needs trials="),
        (dict(init=np.zeros(2)), r"init must have shape \(3,\)"),
        (dict(dispersion="median"), "dispersion must be None, 'pearson', 'deviance' or a float"),
        (dict(family="poisson"), "family must be a numpyro_glm Family"),
        (dict(max_iter=0), "max_iter must be at least 1"),
    ],
)
def test_bad_input_raises_a_clear_value_error(kwargs, message):
    arguments = dict(X=X, y=np.ones(N), family=glm.Poisson())
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        glm.fit(arguments.pop("X"), arguments.pop("y"), arguments.pop("family"), **arguments)


def test_zero_weight_rows_are_ignored_even_with_bad_responses():
    y = simulate(glm.Gamma(link="log"))
    w = np.ones(N)
    w[:5] = 0.0
    y_bad = y.copy()
    y_bad[:5] = -1.0  # invalid for the Gamma family, but weight 0
    result = glm.fit(X, y_bad, glm.Gamma(link="log"), weights=w)
    reference = glm.fit(X[5:], y[5:], glm.Gamma(link="log"))
    np.testing.assert_allclose(result.coef, reference.coef, rtol=1e-10)
    np.testing.assert_allclose(result.se, reference.se, rtol=1e-10)
    assert float(result.df_resid) == N - 5 - 3


def test_a_maximum_on_the_edge_of_the_valid_range_is_reported_as_boundary():
    """Binomial with a log link where the likelihood keeps rising towards μ = 1 (the
    largest fitted μ ends 1e-13 below 1): R's deviance criterion is met only because
    step-halving stops every full step at the edge; the score is not zero there, so
    the fit must not claim convergence."""
    family = glm.Binomial(link="log")
    rng = np.random.default_rng(zlib.crc32(repr(family).encode()))
    mu = np.clip(np.exp(X @ np.array([0.3, 0.4, -0.3]) - 1.0), 0.05, 0.95)
    y = rng.binomial(TRIALS.astype(int), mu).astype(float)
    init = np.r_[np.log(np.mean(y / TRIALS)) - np.mean(OFFSET), 0.0, 0.0]
    with pytest.warns(UserWarning, match="edge of the valid range"):
        result = glm.fit(X, y, family, weights=WEIGHTS, offset=OFFSET, trials=TRIALS, init=init, tol=1e-12)
    assert int(result.status) == Status.BOUNDARY and not bool(result.converged)
    assert 1 - 1e-9 < float(jnp.max(result.mu)) < 1
    # Not a stationary point: the score is far from zero.
    score = X.T @ (WEIGHTS * TRIALS * (y / TRIALS - result.mu) / (1 - result.mu))
    assert np.max(np.abs(score)) > 1.0


def test_design_check_accepts_huge_finite_columns_and_still_finds_aliasing():
    """XᵀX overflows for entries near 1e200; that alone is not a non-finite X."""
    from numpyro_glm.fit import _check_design

    huge = np.random.default_rng(1).normal(size=N) * 1e200
    X_huge = np.column_stack([X, huge, 2 * huge])  # the last column aliases the fourth
    aliased = _check_design(X_huge, np.ones(N, bool))
    assert aliased.tolist() == [False, False, False, False, True]


def test_exposure_equals_a_log_offset():
    y = simulate(glm.Poisson())
    exposure = RNG.uniform(0.5, 3, N)
    a = glm.fit(X, y, glm.Poisson(), exposure=exposure)
    b = glm.fit(X, y, glm.Poisson(), offset=np.log(exposure))
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-12)


# ---------------------------------------------------------------- methods


@pytest.fixture(scope="module")
def poisson_pair():
    y = simulate(glm.Poisson())
    ours = glm.fit(X, y, glm.Poisson(), coef_names=["(Intercept)", "a", "b"])
    theirs = sm.GLM(y, X, family=sm.families.Poisson()).fit(tol=1e-12)
    return y, ours, theirs


def test_predict_and_intervals_match_statsmodels(poisson_pair):
    y, ours, theirs = poisson_pair
    X_new = X[:5] + 0.1
    frame = theirs.get_prediction(X_new).summary_frame(alpha=0.05)
    prediction = ours.predict(X_new, interval=0.95)
    np.testing.assert_allclose(prediction.mean, frame["mean"], rtol=1e-6)
    np.testing.assert_allclose(prediction.se, frame["mean_se"], rtol=1e-6)
    np.testing.assert_allclose(prediction.lower, frame["mean_ci_lower"], rtol=1e-6)
    np.testing.assert_allclose(prediction.upper, frame["mean_ci_upper"], rtol=1e-6)
    np.testing.assert_allclose(ours.predict(X_new, kind="link"), X_new @ theirs.params, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="kind must be"):
        ours.predict(X_new, kind="response")


def test_conf_int_p_values_and_statistics_match_statsmodels(poisson_pair):
    _, ours, theirs = poisson_pair
    np.testing.assert_allclose(ours.conf_int(0.9), theirs.conf_int(alpha=0.1), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.z, theirs.tvalues, rtol=1e-6)
    np.testing.assert_allclose(ours.p_values, theirs.pvalues, rtol=1e-6)


def test_t_tests_for_families_with_estimated_dispersion():
    y = simulate(glm.Gamma(link="log"))
    ours = glm.fit(X, y, glm.Gamma(link="log"))
    t = np.asarray(ours.t)
    np.testing.assert_allclose(ours.p_values, 2 * stats.t.sf(np.abs(t), N - 3), rtol=1e-8)
    assert "t value" in str(ours.summary())


@pytest.mark.parametrize("kind,attribute", [("response", "resid_response"), ("pearson", "resid_pearson"),
                                            ("deviance", "resid_deviance"), ("working", "resid_working")])
def test_residuals_match_statsmodels(poisson_pair, kind, attribute):
    y, ours, theirs = poisson_pair
    np.testing.assert_allclose(ours.residuals(y, kind), getattr(theirs, attribute), rtol=1e-6, atol=1e-9)


def test_quantile_residuals_are_standard_normal_for_a_correct_model():
    n = 1500
    Xl = np.column_stack([np.ones(n), RNG.normal(size=n)])
    for family, y in [
        (glm.Poisson(), RNG.poisson(np.exp(0.5 + 0.3 * Xl[:, 1])).astype(float)),
        (glm.Gamma(link="log"), RNG.gamma(3.0, np.exp(0.5 + 0.3 * Xl[:, 1]) / 3.0)),
    ]:
        result = glm.fit(Xl, y, family)
        r = np.asarray(result.residuals(y, "quantile", key=jax.random.PRNGKey(0)))
        assert stats.kstest(r, "norm").pvalue > 1e-3, family
    with pytest.raises(ValueError, match="need key="):
        glm.fit(X, simulate(glm.Poisson()), glm.Poisson()).residuals(simulate(glm.Poisson()), "quantile")


def test_summary_reads_like_r(poisson_pair):
    _, ours, theirs = poisson_pair
    text = str(ours.summary())
    for expected in ["Family: poisson, link: log", "(Intercept)", "z value", "Pr(>|z|)",
                     "(Dispersion parameter for poisson family taken to be 1)", "Null deviance:",
                     f"on {N - 1} degrees of freedom", f"on {N - 3} degrees of freedom", "AIC:",
                     "Number of Fisher Scoring iterations"]:
        assert expected in text, expected
    assert f"{float(theirs.aic):.6g}" in text


# ---------------------------------------------------------------- float32


def test_float32_inputs_fit_in_float32():
    y = simulate(glm.Poisson())
    result = glm.fit(np.asarray(X, np.float32), np.asarray(y, np.float32), glm.Poisson())
    assert result.coef.dtype == jnp.float32 and result.se.dtype == jnp.float32
    assert int(result.status) == Status.CONVERGED
    np.testing.assert_allclose(result.coef, glm.fit(X, y, glm.Poisson()).coef, rtol=1e-4, atol=1e-5)


def test_warnings_are_not_raised_inside_jit():
    separated = (X[:, 1] > 0).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = jax.jit(lambda y_: glm.fit(X, y_, glm.Bernoulli()))(separated)
    assert int(result.status) == Status.SEPARATION
