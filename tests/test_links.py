"""Links: round trips, derivatives against autodiff, range safety, registry."""

import jax
import mpmath
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyro_glm import links

# Where each link's mean lives (the domain the property tests draw μ from).
UNIT = (1e-10, 1 - 1e-10)
POSITIVE = (1e-4, 1e4)
MU_DOMAIN = {
    "identity": (-1e4, 1e4),
    "log": POSITIVE,
    "logit": UNIT,
    "probit": UNIT,
    "cloglog": UNIT,
    "loglog": UNIT,
    "cauchit": UNIT,
    "inverse": POSITIVE,
    "inverse_squared": POSITIVE,
    "sqrt": POSITIVE,
    "softplus": POSITIVE,
    "logc": UNIT,
    "power(0.3)": POSITIVE,
    "power(-1.5)": POSITIVE,
    "power(2)": POSITIVE,
}
ALL_LINKS = sorted(MU_DOMAIN)
# Links whose η may be any real number: these must stay finite at η = ±1e3.
WHOLE_LINE = ["identity", "log", "logit", "probit", "cloglog", "loglog", "cauchit", "softplus", "logc"]


def mu_grid(name, n=41):
    lo, hi = MU_DOMAIN[name]
    if lo > 0 and hi / lo > 1e3:
        return jnp.geomspace(lo, hi, n)
    return jnp.linspace(lo, hi, n)


def autodiff(f):
    return jax.vmap(jax.grad(f))


@pytest.mark.parametrize("name", ALL_LINKS)
def test_inverse_undoes_link_on_a_grid(name):
    link = links.get(name)
    mu = mu_grid(name)
    np.testing.assert_allclose(link.inverse(link(mu)), mu, rtol=1e-10)


@pytest.mark.parametrize("name", ALL_LINKS)
@settings(max_examples=12, deadline=None)
@given(u=st.floats(0.0, 1.0))
def test_inverse_undoes_link_property(name, u):
    lo, hi = MU_DOMAIN[name]
    mu = lo + u * (hi - lo) if lo <= 0 or hi / lo < 1e3 else lo * (hi / lo) ** u
    link = links.get(name)
    np.testing.assert_allclose(float(link.inverse(link(mu))), mu, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ALL_LINKS)
@settings(max_examples=12, deadline=None)
@given(u=st.floats(0.0, 1.0))
def test_deriv_times_inverse_deriv_is_one(name, u):
    lo, hi = MU_DOMAIN[name]
    mu = lo + u * (hi - lo) if lo <= 0 or hi / lo < 1e3 else lo * (hi / lo) ** u
    link = links.get(name)
    product = link.deriv(mu) * link.inverse_deriv(link(mu))
    np.testing.assert_allclose(float(product), 1.0, rtol=1e-8)


@pytest.mark.parametrize("name", ALL_LINKS)
def test_derivatives_equal_autodiff(name):
    link = links.get(name)
    mu = mu_grid(name)
    # Stay inside the clipping bounds: autodiff of a clipped inverse is 0 outside.
    mu = mu[1:-1]
    eta = link(mu)
    np.testing.assert_allclose(link.deriv(mu), autodiff(link)(mu), rtol=1e-8)
    np.testing.assert_allclose(link.deriv2(mu), autodiff(jax.grad(link))(mu), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(link.inverse_deriv(eta), autodiff(link.inverse)(eta), rtol=1e-8)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("name", WHOLE_LINE)
def test_extreme_eta_gives_finite_mean_and_derivatives(name, dtype):
    link = links.get(name)
    eta = jnp.asarray([-1e3, -50.0, 0.0, 50.0, 1e3], dtype=dtype)
    mu = link.inverse(eta)
    for value in (mu, link.inverse_deriv(eta), link.deriv(mu), link.deriv2(mu), link(mu)):
        assert value.dtype == dtype
        assert jnp.all(jnp.isfinite(value)), (name, value)
    assert jnp.all(link.inverse_deriv(eta) != 0)
    # The gradient of the inverse is finite everywhere too.
    assert jnp.all(jnp.isfinite(jax.vmap(jax.grad(link.inverse))(eta)))


@pytest.mark.parametrize("name", ["logit", "probit", "cloglog", "loglog", "cauchit", "logc"])
def test_unit_interval_links_keep_mu_strictly_inside(name):
    link = links.get(name)
    mu = link.inverse(jnp.asarray([-1e300, -1e3, 1e3, 1e300]))
    assert jnp.all(mu > 0) and jnp.all(mu < 1)
    # R's bound: μ ∈ [ε, 1 − ε]
    assert jnp.all(mu >= np.finfo(np.float64).eps * (1 - 1e-9))


def test_log_inverse_is_bounded_and_documented_bound_holds():
    log = links.Log()
    bound64 = np.log(np.finfo(np.float64).max) / 3
    np.testing.assert_allclose(log.inverse(1e3), np.exp(bound64), rtol=1e-12)
    np.testing.assert_allclose(log.inverse(jnp.float32(1e3)), np.exp(np.log(np.finfo(np.float32).max) / 3), rtol=1e-5)


# μ(η) in 50-digit arithmetic: the oracle for log μ and log(1 − μ).
MP_INVERSE = {
    "logit": lambda e: 1 / (1 + mpmath.exp(-e)),
    "probit": lambda e: mpmath.ncdf(e),
    "cloglog": lambda e: 1 - mpmath.exp(-mpmath.exp(e)),
    "loglog": lambda e: mpmath.exp(-mpmath.exp(-e)),
    "log": lambda e: mpmath.exp(e),
    "logc": lambda e: 1 - mpmath.exp(e),
}
ETA_RANGE = {"logit": (-30, 30), "probit": (-8, 8), "cloglog": (-30, 3.5), "loglog": (-3.5, 30),
             "log": (-30, -1e-3), "logc": (-30, -1e-3)}


@pytest.mark.parametrize("name", sorted(MP_INVERSE))
def test_log_inverse_and_log1m_inverse_match_high_precision(name):
    link = links.get(name)
    eta = np.linspace(*ETA_RANGE[name], 37)
    with mpmath.workdps(50):
        mu = [MP_INVERSE[name](mpmath.mpf(float(e))) for e in eta]
        log_mu = np.array([float(mpmath.log(m)) for m in mu])
        log1m_mu = np.array([float(mpmath.log(1 - m)) for m in mu])
    np.testing.assert_allclose(link.log_inverse(eta), log_mu, rtol=1e-9)
    np.testing.assert_allclose(link.log1m_inverse(eta), log1m_mu, rtol=1e-9)


def test_probit_log_inverse_uses_log_ndtr_far_in_the_tail():
    from scipy.special import log_ndtr

    probit = links.Probit()
    np.testing.assert_allclose(probit.log1m_inverse(8.0), log_ndtr(-8.0), rtol=1e-12)


@pytest.mark.parametrize("name", ALL_LINKS)
def test_links_work_under_jit_vmap_and_grad(name):
    link = links.get(name)
    mu = mu_grid(name, 5)

    @jax.jit
    def f(link_obj_mu):
        return link.inverse(link(link_obj_mu))

    np.testing.assert_allclose(f(mu), mu, rtol=1e-10)
    np.testing.assert_allclose(jax.vmap(link)(mu), link(mu), rtol=1e-12)

    def apply(lnk, m):
        return lnk.deriv(m)

    jitted = jax.jit(apply, static_argnums=0)
    np.testing.assert_allclose(jitted(link, mu), link.deriv(mu), rtol=1e-12)
    assert jnp.all(jnp.isfinite(jax.vmap(jax.grad(lambda m: link(m) ** 2))(mu)))


def test_links_are_hashable_and_compare_by_value():
    assert links.get("logit") == links.Logit()
    assert hash(links.get("logit")) == hash(links.Logit())
    assert links.Power(-1) == links.Inverse() and hash(links.Power(-1)) == hash(links.Inverse())
    assert links.Power(0.5) == links.Sqrt() and links.Power(1) == links.Identity()
    assert links.Power(0.3) != links.Power(0.4)
    assert links.Log() != links.Logit()
    assert len({links.Log(), links.Log(), links.Power(2), links.Power(2.0)}) == 2
    with pytest.raises(AttributeError):
        links.Log().name = "other"


def test_power_link_names_and_zero_power():
    assert links.Power(-2).name == "inverse_squared"
    assert links.Power(0.25).name == "power(0.25)"
    with pytest.raises(ValueError, match="log link"):
        links.Power(0)


def test_registry_get_available_and_errors():
    names = links.available()
    for expected in ["identity", "log", "logit", "probit", "cloglog", "loglog", "cauchit",
                     "inverse", "inverse_squared", "sqrt", "softplus", "logc"]:
        assert expected in names
    logit = links.Logit()
    assert links.get(logit) is logit
    assert links.get("LOGIT") == logit
    assert links.get("1/mu^2") == links.InverseSquared()
    assert links.get("power(0.3)") == links.Power(0.3)
    with pytest.raises(ValueError, match="available links: .*logit"):
        links.get("nosuchlink")
    with pytest.raises(ValueError, match="already registered"):
        links.register("logit", links.Probit())
    with pytest.raises(ValueError, match="must be a numpyro_glm.links.Link"):
        links.register("bad", object())


def _my_logit(mu):
    return jnp.log(mu) - jnp.log1p(-mu)


def test_custom_link_gets_derivatives_by_autodiff():
    custom = links.CustomLink("my_logit", _my_logit, jax.nn.sigmoid)
    reference = links.Logit()
    mu = jnp.linspace(0.01, 0.99, 21)
    np.testing.assert_allclose(custom.deriv(mu), reference.deriv(mu), rtol=1e-10)
    np.testing.assert_allclose(custom.deriv2(mu), reference.deriv2(mu), rtol=1e-8)
    np.testing.assert_allclose(custom.inverse_deriv(reference(mu)), reference.inverse_deriv(reference(mu)), rtol=1e-10)
    assert custom == links.CustomLink("my_logit", _my_logit, jax.nn.sigmoid)
    assert hash(custom) == hash(links.CustomLink("my_logit", _my_logit, jax.nn.sigmoid))
    links.register("my_logit", custom, overwrite=True)
    assert links.get("my_logit") is custom
    # and it works as a static jit argument
    assert jnp.allclose(jax.jit(lambda lnk, m: lnk.deriv(m), static_argnums=0)(custom, mu), reference.deriv(mu))
