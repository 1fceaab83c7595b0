r"""Response distributions that NumPyro does not ship: :class:`InverseGaussian` and
:class:`Tweedie`; :class:`NegativeBinomial2`, NumPyro's own with an accurate
``log_prob`` and faster draws; and :class:`Poisson` and :class:`Gamma`, NumPyro's own
with faster samplers (:func:`poisson_sample`, :func:`gamma_sample`: the draws of a
posterior predictive check).

The GLM families of this package need a likelihood for every variance function they
offer. NumPyro covers the Normal, Poisson, Gamma, binomial and negative binomial
families, but has no inverse Gaussian (Wald) distribution and no Tweedie exponential
dispersion model, so they are defined here in the style of
``numpyro/distributions/continuous.py``: parameters are arrays broadcast with
:func:`~numpyro.distributions.util.promote_shapes`, ``log_prob`` is validated with
:func:`~numpyro.distributions.util.validate_sample`, and every method is a pure
function of its inputs that works under :func:`jax.jit`, :func:`jax.vmap` and
:func:`jax.grad`, in float32 as well as float64.
"""

import math
from typing import Optional

import jax
from jax import Array, lax
import jax.numpy as jnp
import jax.random as random
from jax.extend.random import threefry_2x32
from jax.scipy.special import gammaln, log_ndtr, logsumexp, ndtr, ndtri
from jax.typing import ArrayLike

from numpyro.distributions import constraints
from numpyro.distributions.conjugate import NegativeBinomial2 as _NumPyroNegativeBinomial2
from numpyro.distributions.continuous import Gamma as _NumPyroGamma
from numpyro.distributions.continuous import Normal
from numpyro.distributions.discrete import Poisson as _NumPyroPoisson
from numpyro.distributions.distribution import Distribution
from numpyro.distributions.util import promote_shapes, validate_sample
from numpyro.util import is_prng_key

__all__ = ["InverseGaussian", "Tweedie", "NegativeBinomial2", "Gamma", "Poisson", "poisson_sample", "gamma_sample"]


def _float_dtype(*args: ArrayLike) -> jnp.dtype:
    # Python scalars are weakly typed, so float32 array parameters stay float32.
    return jnp.result_type(float, *args)


class InverseGaussian(Distribution):
    r"""Inverse Gaussian (Wald) distribution with mean :math:`\mu` and shape
    (:attr:`concentration`) :math:`\lambda`,

    .. math::

        f(x \mid \mu, \lambda) = \sqrt{\frac{\lambda}{2\pi x^3}}
        \exp\left(-\frac{\lambda (x - \mu)^2}{2\mu^2 x}\right), \qquad x > 0,

    with :math:`\mathbb{E}[X] = \mu` and :math:`\mathrm{Var}(X) = \mu^3/\lambda`.
    It is the response distribution of the inverse Gaussian GLM family (variance
    function :math:`V(\mu) = \mu^3`, dispersion :math:`\phi = 1/\lambda`), suited
    to positive, right-skewed data whose spread grows faster than for a Gamma model.

    :param ArrayLike mean: mean :math:`\mu > 0`.
    :param ArrayLike concentration: shape parameter :math:`\lambda > 0`.
    """

    arg_constraints = {
        "mean": constraints.positive,
        "concentration": constraints.positive,
    }
    support = constraints.positive
    # `mean` is a property of every distribution, so the parameter lives in `_mean`.
    pytree_data_fields = ("_mean", "concentration")

    def __init__(
        self,
        mean: ArrayLike,
        concentration: ArrayLike,
        *,
        validate_args: Optional[bool] = None,
    ) -> None:
        self._mean, self.concentration = promote_shapes(mean, concentration)
        batch_shape = lax.broadcast_shapes(jnp.shape(mean), jnp.shape(concentration))
        super(InverseGaussian, self).__init__(
            batch_shape=batch_shape, validate_args=validate_args
        )

    def sample(
        self, key: Optional[jax.Array], sample_shape: tuple[int, ...] = ()
    ) -> Array:
        r"""Draws samples by the transformation of Michael, Schucany and Haas (1976):
        with :math:`\nu \sim \mathcal{N}(0, 1)` and :math:`r = \mu\nu^2/(2\lambda)`,

        .. math::

            x = \frac{\mu}{1 + r + \sqrt{r^2 + 2r}}

        is the smaller root of :math:`\lambda(x-\mu)^2/(\mu^2 x) = \nu^2` (written
        without cancellation); it is returned with probability :math:`\mu/(\mu + x)`,
        and :math:`\mu^2/x` otherwise.
        """
        assert is_prng_key(key)
        assert key is not None
        shape = sample_shape + self.batch_shape + self.event_shape
        dtype = _float_dtype(self._mean, self.concentration)
        key_normal, key_uniform = random.split(key)
        nu = random.normal(key_normal, shape, dtype=dtype)
        u = random.uniform(key_uniform, shape, dtype=dtype)
        r = self._mean * nu**2 / (2 * self.concentration)
        x = self._mean / (1 + r + jnp.sqrt(r * (r + 2)))
        return jnp.where(u * (self._mean + x) <= self._mean, x, self._mean**2 / x)

    @validate_sample
    def log_prob(self, value: ArrayLike) -> Array:
        r"""
        .. math::

            \log f(x \mid \mu, \lambda) = \frac{1}{2}\log\frac{\lambda}{2\pi}
            - \frac{3}{2}\log x - \frac{\lambda (x - \mu)^2}{2\mu^2 x}
        """
        mu, lam = self._mean, self.concentration
        return (
            0.5 * (jnp.log(lam) - math.log(2 * math.pi))
            - 1.5 * jnp.log(value)
            - lam * (value - mu) ** 2 / (2 * mu**2 * value)
        )

    def cdf(self, value: ArrayLike) -> Array:
        r"""
        .. math::

            F(x \mid \mu, \lambda) =
            \Phi\left(\sqrt{\frac{\lambda}{x}}\left(\frac{x}{\mu} - 1\right)\right)
            + e^{2\lambda/\mu}\,
            \Phi\left(-\sqrt{\frac{\lambda}{x}}\left(\frac{x}{\mu} + 1\right)\right)

        The second term is evaluated as
        :math:`\exp(2\lambda/\mu + \log\Phi(\cdot))`, so it does not overflow
        for large :math:`\lambda/\mu`.
        """
        mu, lam = self._mean, self.concentration
        s = jnp.sqrt(lam / value)
        z = -s * (value / mu + 1)
        # log Phi(z): jax's float64 log_ndtr loses ~1e-9 (relative) on its asymptotic
        # branch z < -20, while ndtr keeps full relative precision until Phi(z)
        # leaves the normal range of the dtype (z = -37.5 in float64, -13.2 in float32).
        lowest = 1 - math.sqrt(-2 * math.log(jnp.finfo(jnp.result_type(z)).tiny))
        log_phi_z = jnp.where(
            z > lowest, jnp.log(ndtr(jnp.maximum(z, lowest))), log_ndtr(z)
        )
        return ndtr(s * (value / mu - 1)) + jnp.exp(2 * lam / mu + log_phi_z)

    @property
    def mean(self) -> Array:
        r""":math:`\mathbb{E}[X] = \mu`"""
        return jnp.broadcast_to(self._mean, self.batch_shape)

    @property
    def variance(self) -> Array:
        r""":math:`\mathrm{Var}(X) = \mu^3/\lambda`"""
        return jnp.broadcast_to(self._mean**3 / self.concentration, self.batch_shape)


# Nodes of the Dunn-Smyth series sum (see `_tweedie_log_density`). The terms are
# summed from `_SERIES_LOWER_SDS` standard deviations below the largest term to
# `_SERIES_UPPER_SDS` above it (the upper tail of the terms is the heavier one).
_SERIES_NODES = 128
_SERIES_LOWER_SDS = 9.0
_SERIES_UPPER_SDS = 14.0
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _stirling_remainder(x: Array) -> Array:
    r"""The error of Stirling's formula,
    :math:`\log\Gamma(x) - (x - \tfrac12)\log x + x - \tfrac12\log 2\pi`, without
    the cancellation of that difference for large :math:`x` (Loader's ``stirlerr``):
    the asymptotic series (truncation error below :math:`10^{-16}`) for
    :math:`x \ge 15`, the difference itself below."""
    large = x >= 15
    xl = jnp.where(large, x, 15.0)
    xl2 = xl * xl
    series = (
        1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / (1188 * xl2)) / xl2) / xl2) / xl2
    ) / xl
    xs = jnp.where(large, 1.0, x)
    direct = gammaln(xs) - (xs - 0.5) * jnp.log(xs) + xs - _HALF_LOG_2PI
    return jnp.where(large, series, direct)


def _stirling_series_derivatives(x: Array) -> tuple[Array, Array]:
    """δ'(x) and δ''(x) from the asymptotic series of :func:`_stirling_remainder`
    (differentiated term by term; truncation error below 1e-16 for x ≥ 15)."""
    v = 1.0 / (x * x)
    first = -v * (1 / 12 - v * (1 / 120 - v * (1 / 252 - v * (1 / 240 - v / 132))))
    second = v / x * (1 / 6 - v * (1 / 30 - v * (1 / 42 - v * (1 / 30 - v * 5 / 66))))
    return first, second


_RECURRENCE_STEPS = 15
"""Below x = 15 the polygamma recurrences carry x up to where the series is exact."""


def _stirling_remainder_derivatives(x: Array) -> tuple[Array, Array]:
    r"""The first and second derivatives of :func:`_stirling_remainder`,
    :math:`\delta'(x) = \psi(x) - \log x + \tfrac{1}{2x}` and
    :math:`\delta''(x) = \psi_1(x) - \tfrac1x - \tfrac{1}{2x^2}`, for x > 0.

    For x ≥ 15 the series, term by term, which keeps the relative accuracy where
    they are tiny (large x). Below, ψ and ψ₁ are carried to z = x + 15 by their
    recurrences (ψ(x) = ψ(x + 1) − 1/x, ψ₁(x) = ψ₁(x + 1) + 1/x²) and evaluated
    there by the series. Written with arithmetic only: XLA's ``digamma`` and
    ``polygamma`` compile slowly when fused with each other (~1.5 s for the
    negative binomial's α derivatives).
    """
    large = x >= 15
    z = jnp.where(large, x, x + _RECURRENCE_STEPS)
    first_z, second_z = _stirling_series_derivatives(z)
    xs = jnp.where(large, 1.0, x)
    harmonic = sum(1.0 / (xs + k) for k in range(_RECURRENCE_STEPS))
    squares = sum(1.0 / jnp.square(xs + k) for k in range(_RECURRENCE_STEPS))
    digamma_x = jnp.log(z) - 0.5 / z + first_z - harmonic
    trigamma_x = 1.0 / z + 0.5 / (z * z) + second_z + squares
    direct_first = digamma_x - jnp.log(xs) + 0.5 / xs
    direct_second = trigamma_x - 1.0 / xs - 0.5 / (xs * xs)
    return jnp.where(large, first_z, direct_first), jnp.where(large, second_z, direct_second)


def _tweedie_log_density(y: Array, mu: Array, phi: Array, p: float) -> Array:
    r"""Log density of the Tweedie distribution at :math:`y > 0` for
    :math:`1 < p < 2`, by the series of Dunn & Smyth (2005):

    .. math::

        \log f(y) = \log W(y, \phi, p) - \log y
        + \frac{y\theta - \kappa(\theta)}{\phi}, \qquad
        W = \sum_{j \ge 1} W_j, \quad
        W_j = \frac{z^j}{\Gamma(1 + j)\,\Gamma(-j\alpha)}, \quad
        z = \frac{y^{-\alpha} (p-1)^{\alpha}}{\phi^{1-\alpha} (2-p)},

    with :math:`\alpha = (2-p)/(1-p) < 0`. :math:`\log W_j` is concave in :math:`j`
    and peaks near :math:`j_{\max} = y^{2-p}/(\phi(2-p))`. For large
    :math:`y/\phi` both :math:`\log W` and :math:`(y\theta - \kappa)/\phi` are huge
    and nearly cancel, so the sum is rewritten around the peak: with
    :math:`a = -\alpha`, Stirling's formula
    :math:`\log\Gamma(x) = (x - \tfrac12)\log x - x + \tfrac12\log 2\pi + r(x)`
    and :math:`t = j/j_{\max}`, the identity
    :math:`\log z = (1 + a)\log j_{\max} + a \log a` gives exactly

    .. math::

        \log f(y) = -\frac{d(y, \mu)}{2\phi} - \log y + \tfrac12\log a - \log 2\pi
        + \log \sum_{j \ge 1} \exp\left(-\frac{j_{\max}(t\log t - t + 1)}{p - 1}
        - r(j) - r(aj)\right),

    where :math:`d(y, \mu)` is the Tweedie unit deviance, evaluated as
    :math:`\frac{2\mu^{2-p}}{(1-p)(2-p)}\left(\operatorname{expm1}((2-p)L)
    - (2-p)\operatorname{expm1}(L)\right)`, :math:`L = \log(y/\mu)`. Every term is
    now of order one near the peak (this is the saddlepoint approximation plus an
    exact correction), which keeps float32 usable.

    The terms have spread :math:`\sigma = \sqrt{j_{\max}(p-1)}` in :math:`j`. The
    sum is taken over ``_SERIES_NODES`` nodes :math:`j_k = j_{lo} + k h` covering
    :math:`[j_{\max} - 9\sigma, j_{\max} + 14\sigma]` (clipped at :math:`j = 1`):
    while that window holds fewer integers than there are nodes, :math:`h = 1` and
    the nodes are consecutive integers (the exact sum, truncated where the terms
    are below :math:`e^{-40}` of the largest); otherwise :math:`\sigma > 5.5` and
    :math:`h \sum_k` is the trapezoidal rule, whose deviation from the integer sum
    is of order :math:`e^{-2\pi^2\sigma^2/h^2} < e^{-600}`. The node positions
    depend on the parameters only through this choice of window, so they carry no
    gradient.
    """
    s = 2 - p  # in (0, 1)
    a = s / (p - 1)
    log_y = jnp.log(y)
    log_mu = jnp.log(mu)
    log_phi = jnp.log(phi)

    # d(y, mu) / (2 phi)
    log_ratio = log_y - log_mu
    half_deviance = (
        jnp.exp(s * log_mu - log_phi)
        * (jnp.expm1(s * log_ratio) - s * jnp.expm1(log_ratio))
        / ((1 - p) * s)
    )

    log_j_max = s * log_y - log_phi - math.log(s)
    j_max = jnp.exp(log_j_max)
    sigma = jnp.sqrt(j_max * (p - 1))
    n = _SERIES_NODES
    total_sds = _SERIES_LOWER_SDS + _SERIES_UPPER_SDS
    h = jnp.maximum(1.0, total_sds * sigma / (n - 1))
    j_lo = jnp.maximum(
        1.0, jnp.floor(j_max - _SERIES_LOWER_SDS / total_sds * (n - 1) * h)
    )
    h = lax.stop_gradient(h)
    j_lo = lax.stop_gradient(j_lo)
    j = j_lo[..., None] + h[..., None] * jnp.arange(n, dtype=h.dtype)

    # j_max * (t log t - t + 1) = j log t - (j - j_max), t = j / j_max; log t by
    # log1p near the peak (no cancellation) and as a difference of logs elsewhere
    # (no overflow of t when j_max is tiny).
    j_max_ = j_max[..., None]
    log_t = jnp.log(j) - log_j_max[..., None]
    near = jnp.abs(log_t) < 0.5
    # (the `where` inside keeps 1 / j_max out of the gradient when j_max is tiny)
    j_max_near = jnp.where(near, j_max_, j)
    log_t = jnp.where(near, jnp.log1p((j - j_max_near) / j_max_near), log_t)
    log_terms = (
        -(j * log_t - (j - j_max_)) / (p - 1)
        - _stirling_remainder(j)
        - _stirling_remainder(a * j)
    )
    log_series = jnp.log(h) + logsumexp(log_terms, axis=-1)
    return (
        -half_deviance
        - log_y
        + (0.5 * math.log(a) - 2 * _HALF_LOG_2PI)
        + log_series
    )


class Tweedie(Distribution):
    r"""Tweedie exponential dispersion model with mean :math:`\mu`, dispersion
    :math:`\phi` and power :math:`p`: the distribution with
    :math:`\mathbb{E}[Y] = \mu` and :math:`\mathrm{Var}(Y) = \phi\mu^p` whose density
    has the exponential-dispersion form

    .. math::

        f(y \mid \mu, \phi, p) = a(y, \phi)
        \exp\left(\frac{y\theta - \kappa(\theta)}{\phi}\right), \qquad
        \theta = \frac{\mu^{1-p}}{1-p}, \quad \kappa = \frac{\mu^{2-p}}{2-p}.

    It is the likelihood of the Tweedie GLM family; its main use is
    :math:`1 < p < 2`, a compound Poisson–gamma distribution with an exact point mass
    at zero and a continuous density on :math:`y > 0` (insurance claims, rainfall,
    biomass: nonnegative data with many exact zeros). The power selects the case:

    * :math:`p = 0`: :math:`\mathcal{N}(\mu, \phi)` (:class:`~numpyro.distributions.Normal`
      with scale :math:`\sqrt{\phi}`);
    * :math:`p = 1`: scaled Poisson, :math:`Y/\phi \sim \mathrm{Poisson}(\mu/\phi)`;
      ``log_prob(y)`` is the Poisson log mass of :math:`y/\phi` (evaluated, as in
      quasi-Poisson models, for any :math:`y \ge 0`);
    * :math:`1 < p < 2`: :math:`Y = \sum_{i=1}^N G_i` with
      :math:`N \sim \mathrm{Poisson}(\mu^{2-p}/(\phi(2-p)))` and
      :math:`G_i \sim \mathrm{Gamma}` of shape :math:`(2-p)/(p-1)` and scale
      :math:`\phi(p-1)\mu^{p-1}`, so
      :math:`\log P(Y = 0) = -\mu^{2-p}/(\phi(2-p))`; for :math:`y > 0`,
      :math:`a(y, \phi) = W(y, \phi, p)/y` is the series of Dunn & Smyth (2005),
      summed around its largest term (accurate for large :math:`y/\phi` and for
      :math:`p` close to 1 or 2, with finite gradients);
    * :math:`p = 2`: :math:`\mathrm{Gamma}` with shape :math:`1/\phi` and rate
      :math:`1/(\phi\mu)`;
    * :math:`p = 3`: :class:`InverseGaussian` with mean :math:`\mu` and shape
      :math:`1/\phi`;
    * other :math:`p > 2` (positive stable case): only ``mean`` and ``variance`` are
      available; ``log_prob`` and ``sample`` raise :class:`NotImplementedError` (the
      Dunn–Smyth series for :math:`p > 2` alternates in sign and loses all accuracy
      to cancellation for small :math:`y`).

    No Tweedie distribution exists for :math:`0 < p < 1`, and negative powers are not
    supported; both raise :class:`ValueError`. ``cdf`` is available for
    :math:`p \in \{0, 2, 3\}`.

    **Reference**

    Dunn, P. K. and Smyth, G. K. (2005). Series evaluation of Tweedie exponential
    dispersion model densities. *Statistics and Computing* 15, 267–280.

    :param ArrayLike mean: mean :math:`\mu > 0`.
    :param ArrayLike dispersion: dispersion :math:`\phi > 0`.
    :param float power: power :math:`p` of the variance function, a static Python
        float: ``0``, ``1``, any value in :math:`(1, 2)`, or :math:`p \ge 2`.
    """

    arg_constraints = {
        "mean": constraints.positive,
        "dispersion": constraints.positive,
    }
    # `mean` is a property of every distribution, so the parameter lives in `_mean`.
    pytree_data_fields = ("_mean", "dispersion")
    pytree_aux_fields = ("power",)

    def __init__(
        self,
        mean: ArrayLike,
        dispersion: ArrayLike,
        power: float,
        *,
        validate_args: Optional[bool] = None,
    ) -> None:
        try:
            power = float(power)
        except (TypeError, jax.errors.ConcretizationTypeError) as e:
            raise TypeError(
                "Tweedie power must be a static Python float, got {!r}.".format(power)
            ) from e
        if power < 0 or 0 < power < 1 or math.isnan(power):
            raise ValueError(
                "Tweedie power must be 0, 1, in (1, 2), or >= 2; got {}. No Tweedie "
                "distribution exists for 0 < p < 1.".format(power)
            )
        self.power = power
        self._mean, self.dispersion = promote_shapes(mean, dispersion)
        batch_shape = lax.broadcast_shapes(jnp.shape(mean), jnp.shape(dispersion))
        super(Tweedie, self).__init__(
            batch_shape=batch_shape, validate_args=validate_args
        )

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        if self.power == 0:
            return constraints.real
        if self.power < 2:
            return constraints.nonnegative
        return constraints.positive

    def _closed_form(self) -> Distribution:
        # The distribution of Y for p in {0, 2, 3}, and of Y / phi for p = 1.
        # Built on demand: `tree_unflatten` restores only the pytree fields.
        mu, phi, p = self._mean, self.dispersion, self.power
        if p == 0:
            return Normal(mu, jnp.sqrt(phi), validate_args=False)
        if p == 1:
            return Poisson(mu / phi, validate_args=False)
        if p == 2:
            return Gamma(1 / phi, 1 / (phi * mu), validate_args=False)
        if p == 3:
            return InverseGaussian(mu, 1 / phi, validate_args=False)
        raise NotImplementedError(
            "Tweedie with power {} has no closed-form distribution.".format(p)
        )

    def _raise_positive_stable(self, what: str):
        raise NotImplementedError(
            "Tweedie {} is not implemented for power p > 2 other than p = 3 (got "
            "p = {}); supported powers are 0, 1, 1 < p < 2, 2 and 3.".format(
                what, self.power
            )
        )

    def sample(
        self, key: Optional[jax.Array], sample_shape: tuple[int, ...] = ()
    ) -> Array:
        r"""For :math:`1 < p < 2`, draws :math:`N \sim \mathrm{Poisson}(\lambda)`,
        :math:`\lambda = \mu^{2-p}/(\phi(2-p))`, and returns the sum of :math:`N`
        gamma variables as one :math:`\mathrm{Gamma}(N(2-p)/(p-1))` draw scaled by
        :math:`\phi(p-1)\mu^{p-1}` (exactly 0 when :math:`N = 0`). For
        :math:`p \in \{0, 1, 2, 3\}` it samples the closed-form distribution; other
        :math:`p > 2` raise :class:`NotImplementedError`.

        For :math:`p` near 2 a single gamma summand has a tiny shape, and a small
        fraction of positive draws underflow to 0 in floating point.
        """
        assert is_prng_key(key)
        assert key is not None
        p = self.power
        mu, phi = self._mean, self.dispersion
        # numpyro's Normal, Poisson and Gamma draw in the default float type.
        dtype = _float_dtype(mu, phi)
        if p == 1:
            return (self._closed_form().sample(key, sample_shape) * phi).astype(dtype)
        if p in (0.0, 2.0, 3.0):
            return self._closed_form().sample(key, sample_shape).astype(dtype)
        if p > 2:
            self._raise_positive_stable("sampling")
        shape = sample_shape + self.batch_shape + self.event_shape
        rate = mu ** (2 - p) / (phi * (2 - p))
        summand_shape = (2 - p) / (p - 1)
        scale = phi * (p - 1) * mu ** (p - 1)
        key_count, key_gamma = random.split(key)
        count = poisson_sample(key_count, jnp.broadcast_to(rate, shape)).astype(dtype)
        positive = count > 0
        g = gamma_sample(key_gamma, jnp.where(positive, count * summand_shape, 1.0).astype(dtype))
        return jnp.where(positive, g * scale, 0.0).astype(dtype)

    @validate_sample
    def log_prob(self, value: ArrayLike) -> Array:
        r"""For :math:`1 < p < 2`,

        .. math::

            \log f(y) = \begin{cases}
                -\dfrac{\mu^{2-p}}{\phi(2-p)}, & y = 0 \quad (\log P(Y = 0)), \\[1ex]
                \log W(y, \phi, p) - \log y + \dfrac{y\theta - \kappa(\theta)}{\phi},
                & y > 0,
            \end{cases}

        with :math:`W` the Dunn–Smyth series (see the class docstring); it is
        :math:`-\infty` for :math:`y < 0`. For :math:`p \in \{0, 1, 2, 3\}` it is the
        log density of the closed-form distribution (for :math:`p = 1` the Poisson
        log mass of :math:`y/\phi`).
        """
        p = self.power
        mu, phi = self._mean, self.dispersion
        if p in (0.0, 2.0, 3.0):
            return self._closed_form().log_prob(value)
        if p == 1:
            # numpyro's Poisson evaluates in the default float type; keep the input's.
            dtype = _float_dtype(mu, phi, value)
            return self._closed_form().log_prob(value / phi).astype(dtype)
        if p > 2:
            self._raise_positive_stable("log_prob")
        positive = value > 0
        log_density = _tweedie_log_density(jnp.where(positive, value, 1.0), mu, phi, p)
        log_zero = -(mu ** (2 - p)) / (phi * (2 - p))
        return jnp.where(
            positive, log_density, jnp.where(value == 0, log_zero, -jnp.inf)
        )

    def cdf(self, value: ArrayLike) -> Array:
        r"""Available for :math:`p \in \{0, 2, 3\}` (Normal, Gamma and inverse Gaussian
        distribution functions); other powers raise :class:`NotImplementedError`."""
        if self.power in (0.0, 2.0, 3.0):
            return self._closed_form().cdf(value)
        raise NotImplementedError(
            "Tweedie cdf has a closed form only for power 0, 2 and 3 (got p = {}).".format(
                self.power
            )
        )

    @property
    def mean(self) -> Array:
        r""":math:`\mathbb{E}[Y] = \mu`"""
        return jnp.broadcast_to(self._mean, self.batch_shape)

    @property
    def variance(self) -> Array:
        r""":math:`\mathrm{Var}(Y) = \phi\mu^p`"""
        return jnp.broadcast_to(
            self.dispersion * self._mean**self.power, self.batch_shape
        )


class NegativeBinomial2(_NumPyroNegativeBinomial2):
    r"""NumPyro's :class:`~numpyro.distributions.NegativeBinomial2` (mean μ,
    concentration r = 1/α, Var = μ + μ²/r) with a ``log_prob`` that is accurate.

    NumPyro evaluates the pmf through :func:`jax.scipy.special.betaln`, which is off
    by up to ~3e-7 (relative) in float64, and whose differences cancel
    catastrophically as r → ∞ (α → 0, the Poisson limit), where an estimate of α
    needs the sign of ∂ log p/∂α. Here

    .. math::

        \log p(y) = (r - \tfrac12)\log\left(1 + \frac{y}{r}\right)
        - r\log\left(1 + \frac{\mu}{r}\right)
        + y\log\left(1 + \frac{y - \mu}{r + \mu}\right) + y\log\mu - y
        + \delta(y + r) - \delta(r) - \log\Gamma(y + 1),

    with δ the remainder of Stirling's formula (exact, no cancellation), which
    tends to the Poisson log pmf as r → ∞. ``sample`` is NumPyro's gamma–Poisson
    mixture drawn by :func:`gamma_sample` and :func:`poisson_sample` (~90 against
    ~1,100–1,650 ns per value with NumPyro's samplers); everything else (moments,
    support) is NumPyro's.
    """

    def sample(self, key: Optional[jax.Array], sample_shape: tuple[int, ...] = ()) -> Array:
        """θ ~ Gamma(r, r/μ), then y ~ Poisson(θ), as NumPyro, but drawn with
        :func:`gamma_sample` and :func:`poisson_sample` instead of NumPyro's samplers."""
        assert is_prng_key(key)
        assert key is not None
        key_gamma, key_poisson = random.split(key)
        shape = sample_shape + self.batch_shape
        concentration = jnp.broadcast_to(self.concentration, shape)
        theta = gamma_sample(key_gamma, concentration) / jnp.broadcast_to(self.rate, shape)
        return poisson_sample(key_poisson, theta)

    @validate_sample
    def log_prob(self, value: ArrayLike) -> Array:
        dtype = _float_dtype(self.mean, self.concentration)
        y = jnp.asarray(value, dtype)
        mu = jnp.asarray(self.mean, dtype)
        r = jnp.asarray(self.concentration, dtype)
        return (
            (r - 0.5) * jnp.log1p(y / r)
            - r * jnp.log1p(mu / r)
            + y * jnp.log1p((y - mu) / (r + mu))
            + jax.scipy.special.xlogy(y, mu)
            - y
            + _stirling_remainder(y + r)
            - _stirling_remainder(r)
            - gammaln(y + 1.0)
        )


# --------------------------------------------------------------------------- Poisson

_COUNT_FROM_ZERO_BELOW = 40.0
"""Rates below this are drawn by counting up from k = 0 (at most ~80 steps, in fused
blocks); larger ones by :func:`jax.random.poisson`'s transformed rejection, up to
``_QUANTILE_FROM``."""

_COUNT_BLOCK = 16
"""Steps of the count from zero per loop iteration: one fused kernel per block instead
of one loop iteration (and one reduction) per step (8 is ~10% slower, 32 slower still)."""

_QUANTILE_FROM = 1000.0
"""Rates from this on are drawn as the Cornish–Fisher quantile of their uniform:
:func:`jax.random.poisson` computes in float32 whatever the rate's dtype, and its
draws are measurably off from about 1e4 (chi-square p < 1e-30 on 1e6 draws at 1e5;
variance 2.5% too large at 1e6, 6% at 5e6)."""


def _uniform(key: Array, shape: tuple[int, ...], dtype) -> Array:
    """Uniforms on [0, 1) of ``dtype`` and ``shape``, as :func:`jax.random.uniform`, but
    with a float32 threefry key at half its cost.

    JAX's default ("partitionable") threefry spends one threefry2x32 hash (64 random
    bits) on each 32-bit value and folds the two halves together; here, as in its
    older layout, one hash on a pair of counters gives two values (3.9 against 7.9 ns
    per value on one core of this machine: the larger part of a Poisson draw). The
    bits are the key's own threefry stream, so the draws are as good; they differ from
    ``jax.random.uniform``'s for the same key. Other dtypes and key implementations
    take ``jax.random.uniform``.
    """
    data = random.key_data(key)
    size = math.prod(shape)
    if jnp.dtype(dtype) != jnp.float32 or data.shape != (2,) or size >= 2**32 - 1:
        return random.uniform(key, shape, dtype)
    counters = lax.iota(jnp.uint32, size + size % 2)  # threefry_2x32 pairs them up
    bits = threefry_2x32(data, counters)[:size].reshape(shape)
    # The top 23 bits as the mantissa of a float in [1, 2), minus 1 (as jax.random.uniform).
    return lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0


@jax.jit
def poisson_sample(key: Array, rate: ArrayLike) -> Array:
    r"""Poisson draws, one per element of ``rate``: exact inversion of the CDF with one
    uniform per value for rates below 40 (nearly all rates of count data), JAX's
    transformed rejection from 40 to 1,000, and from 1,000 on the Cornish–Fisher
    quantile of one uniform (O(1/λ) counts from the exact quantile; no test on 1e7
    draws tells it from the pmf), where JAX's float32 rejection sampler is not exact.

    Below 40, each value's draw is :math:`\min\{k : u \le F(k)\} = \#\{i \ge 0 : u >
    F(i)\}`, counted from :math:`k = 0` with the pmf's recurrence :math:`p_{k+1} =
    p_k\lambda/(k+1)`: a compare, a multiply and two adds per value and step, sixteen
    steps to one fused kernel, until every value's F has passed its uniform (as many
    steps as the largest draw needs, at most ~80). :func:`jax.random.poisson` instead
    draws fresh uniforms for every value in each step of its loops (Knuth's product
    of uniforms below 10) until the slowest value is done: about 10× slower on large
    arrays of small rates. From 40 to 1,000, its transformed rejection (Hörmann's
    PTRS) is the faster exact method, and runs only when some rate is that large. In
    float32 the uniforms take two values from each threefry hash of the key's stream,
    where :func:`jax.random.uniform` spends one hash per value (see ``_uniform``).

    A uniform beyond the floating-point total of the pmf (about 1 − 6e-8 in float32)
    gets a far-tail value where the terms vanish (the count stops at the end of the
    first block in which F no longer changes) instead of looping on. Rates of 1,000
    and more take the Cornish–Fisher quantile of their uniform, :math:`\lambda +
    \sqrt\lambda z + (z^2 - 1)/6 + (z - z^3)/(72\sqrt\lambda)` with :math:`z =
    \Phi^{-1}(u)`, rounded: its error is O(1/λ) counts, and 1e7 draws at rates from
    100 on cannot tell it from the pmf (chi-square, one bin per count), while
    :func:`jax.random.poisson`, in float32 whatever the rate's dtype, is measurably
    off from about 1e4 and does not return from 1e7. Beyond float32's consecutive
    integers (1.7e7), float32 draws are as coarse as float32. NaN rates give -1 (as
    JAX), +inf the largest integer.

    Args:
        key: a ``jax.random`` key.
        rate: Poisson means, any shape, λ ≥ 0 (float32 or float64).

    Returns:
        Integer draws (JAX's default integer type), ``rate``'s shape.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from numpyro_glm.distributions import poisson_sample
        >>> draws = poisson_sample(jax.random.PRNGKey(0), jnp.full(10_000, 3.0))
        >>> bool(abs(float(draws.mean()) - 3.0) < 0.1)
        True
    """
    rate = jnp.asarray(rate, _float_dtype(rate))
    dtype = rate.dtype
    int_dtype = jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.int_))
    key_count, key_rejection = random.split(key)
    u = _uniform(key_count, rate.shape, dtype)
    # Rates of 1,000 and more (and non-finite ones) take the quantile approximation at
    # the end: jax.random.poisson is inexact there (see _QUANTILE_FROM).
    huge = ~(rate < _QUANTILE_FROM)
    lam = jnp.where((rate > 0) & ~huge, rate, 0.0)
    small = lam < _COUNT_FROM_ZERO_BELOW
    k = _count_from_zero(u, jnp.where(small, lam, 0.0))
    # Larger rates by JAX's transformed rejection, and the huge ones, only where there
    # are such rates (a real branch in a lax.map or a loop; under vmap both sides run).
    lam_large = jnp.where(small, _COUNT_FROM_ZERO_BELOW, lam)
    k = lax.cond(jnp.any(~small), lambda: jnp.where(small, k, random.poisson(key_rejection, lam_large, dtype=int_dtype)),
                 lambda: k)
    k = lax.cond(jnp.any(huge), lambda: jnp.where(huge, _cornish_fisher_quantile(u, rate, int_dtype), k), lambda: k)
    return k.astype(int_dtype)


def _count_from_zero(u: Array, lam: Array) -> Array:
    """min{k : u ≤ F(k)} = #{i ≥ 0 : u > F(i)}, summing the pmf up from k = 0, for λ below
    ``_COUNT_FROM_ZERO_BELOW`` (exp(−λ) must not underflow); as floats, ``lam``'s dtype.

    Each loop iteration runs ``_COUNT_BLOCK`` unrolled steps of a compare, a multiply
    and two adds, which XLA fuses into one kernel over the array, until every uniform
    lies below its F. Since F only grows, a value that is done stays done. A uniform
    beyond the floating-point total (F stopped growing below it: the terms vanished)
    keeps the count at the end of the first block in which F did not change, a far
    tail value at most ``_COUNT_BLOCK`` beyond where the terms vanished.
    """
    dtype = lam.dtype
    term = jnp.exp(-lam)

    def block(carry):
        j, term, cdf, k, _ = carry
        cdf_start, k_start = cdf, k
        for step in range(1, _COUNT_BLOCK + 1):
            k = k + (u > cdf).astype(dtype)
            term = term * (lam * (1.0 / (j + step)))  # p(j + step), a scalar reciprocal
            cdf = cdf + term
        stalled = (u > cdf) & (cdf == cdf_start)
        k = jnp.where(stalled, k_start, k)
        return j + _COUNT_BLOCK, term, cdf, k, jnp.any((u > cdf) & ~stalled)

    carry = (jnp.asarray(0.0, dtype), term, term, jnp.zeros_like(lam), jnp.asarray(True))
    return lax.while_loop(lambda carry: carry[4], block, carry)[3]


def _cornish_fisher_quantile(u: Array, rate: Array, int_dtype) -> Array:
    """The draw for rates of ``_QUANTILE_FROM`` and more: the Cornish–Fisher quantile of
    the uniform to the λ^-1/2 term (its error is O(1/λ) counts, below 1e-3 here),
    clipped to the integer type; NaN gives -1 as in jax.random.poisson, +inf the
    largest integer.

    The expansion is λ + √λ·w with w = z + γ₁(z² − 1)/6 + γ₂(z³ − 3z)/24 −
    γ₁²(2z³ − 5z)/36; every cumulant of the Poisson is λ, so γ₁ = λ^-1/2 and γ₂ = 1/λ,
    and √λ·w = √λz + (z² − 1)/6 + (z − z³)/(72√λ). The + 0.5 is the continuity
    correction of a discrete quantile."""
    z = jnp.clip(ndtri(u), -8.0, 8.0)
    finite = jnp.where(jnp.isfinite(rate), rate, _QUANTILE_FROM)
    root = jnp.sqrt(finite)
    quantile = jnp.floor(finite + root * z + (z * z - 1.0) / 6.0 + (z - z * z * z) / (72.0 * root) + 0.5)
    info = jnp.iinfo(int_dtype)
    quantile = jnp.clip(quantile, 0, info.max)
    return jnp.where(jnp.isnan(rate), -1, jnp.where(rate == jnp.inf, info.max, quantile))


# --------------------------------------------------------------------------- gamma


@jax.jit
def gamma_sample(key: Array, concentration: ArrayLike) -> Array:
    r"""Gamma(concentration, 1) draws, one per element of ``concentration``, by
    Marsaglia and Tsang's squeeze method over the whole array at once.

    Each round draws a normal x and a uniform u for every value still pending and
    accepts d·v, with d = a − 1/3 and v = (1 + x/√(9d))³, where v > 0 and log u <
    x²/2 + d − dv + d log v (at least 95% of proposals for every a); the rounds go on
    until every value is accepted (about five for 10⁵ values). Below a = 1, a draw for
    a + 1 is scaled by u^(1/a). :func:`jax.random.gamma` instead runs one rejection
    loop per value, about 1 µs per value on one CPU core against ~80 ns here. Draws
    below the dtype's smallest normal number (Gamma(0.05) has 1.3% of its mass below
    1e-38) are returned as that number, never 0, as in :func:`jax.random.gamma`. Not
    differentiable in ``concentration`` (use :func:`jax.random.gamma` for
    reparameterised gradients).

    Args:
        key: a ``jax.random`` key.
        concentration: shapes a > 0, any shape (float32 or float64).

    Returns:
        Draws of ``concentration``'s shape and float dtype (NaN where a ≤ 0 or NaN).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from numpyro_glm.distributions import gamma_sample
        >>> draws = gamma_sample(jax.random.PRNGKey(0), jnp.full(10_000, 2.0))
        >>> bool(abs(float(draws.mean()) - 2.0) < 0.1)
        True
    """
    a = jnp.asarray(concentration, _float_dtype(concentration))
    dtype, shape = a.dtype, a.shape
    boost = a < 1.0
    d = jnp.where(boost, a + 1.0, a) - 1.0 / 3.0
    c = lax.rsqrt(9.0 * d)
    key_rounds, key_boost = random.split(key)

    def propose(carry):
        i, draws = carry
        u = _uniform(random.fold_in(key_rounds, i), (2,) + shape, dtype)
        x = ndtri(u[0])
        t = c * x  # v = (1 + t)³
        positive = t > -1.0
        t = jnp.where(positive, t, 0.0)
        # log u < x²/2 + d(1 − v + log v), with 1 − v = −t(3 + t(3 + t)): d − dv would
        # cancel (off by ~1e-3 in float32 at a = 1e4; this form by ~1e-5).
        accept = positive & (jnp.log(u[1]) < 0.5 * x * x + d * (3.0 * jnp.log1p(t) - t * (3.0 + t * (3.0 + t))))
        # Pending values are the NaN ones: one mask, so that no two copies of the test
        # (XLA may compute it in two fusions, rounding differently) can disagree.
        return i + 1, jnp.where(jnp.isnan(draws) & accept, d * (1.0 + t) ** 3, draws)

    valid = a > 0  # NaN and a <= 0 are set to NaN at the end
    start = (jnp.uint32(0), jnp.where(valid, jnp.nan, 1.0).astype(dtype))
    draws = lax.while_loop(lambda carry: jnp.any(jnp.isnan(carry[1])), propose, start)[1]
    scale = jnp.exp(jnp.log(_uniform(key_boost, shape, dtype)) / a)
    draws = jnp.where(boost, draws * scale, draws)
    return jnp.where(valid, jnp.maximum(draws, jnp.finfo(dtype).tiny), jnp.nan)


class Gamma(_NumPyroGamma):
    r"""NumPyro's :class:`~numpyro.distributions.Gamma` (same parameters, support and
    ``log_prob``) whose ``sample`` is :func:`gamma_sample` times 1/rate: ~14× faster
    than :func:`jax.random.gamma` on a CPU (posterior predictive checks, parametric
    bootstraps of Gamma GLMs). The draws are not differentiable in the concentration,
    so it is not marked reparameterised (use NumPyro's for a reparameterised latent).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from numpyro_glm.distributions import Gamma
        >>> Gamma(jnp.array([0.5, 2.0]), 1.0).sample(jax.random.PRNGKey(1), (3,)).shape
        (3, 2)
    """

    reparametrized_params = []

    def sample(self, key: Optional[jax.Array], sample_shape: tuple[int, ...] = ()) -> Array:
        assert is_prng_key(key)
        assert key is not None
        shape = sample_shape + self.batch_shape
        return gamma_sample(key, jnp.broadcast_to(self.concentration, shape)) / jnp.broadcast_to(self.rate, shape)


class Poisson(_NumPyroPoisson):
    r"""NumPyro's :class:`~numpyro.distributions.Poisson` (same parameters, support and
    ``log_prob``) whose ``sample`` is :func:`poisson_sample`: several times faster
    than :func:`jax.random.poisson` on large arrays of small rates (posterior
    predictive checks, parametric bootstraps), and right at rates of 1e4 and more,
    where JAX's float32 sampler is not. A given key gives other draws than NumPyro's
    sampler would, from the same distribution.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from numpyro_glm.distributions import Poisson
        >>> Poisson(jnp.array([0.5, 2.0, 40.0])).sample(jax.random.PRNGKey(1), (3,)).shape
        (3, 3)
    """

    def sample(self, key: Optional[jax.Array], sample_shape: tuple[int, ...] = ()) -> Array:
        assert is_prng_key(key)
        assert key is not None
        rate = jnp.broadcast_to(self.rate, sample_shape + self.batch_shape)
        return poisson_sample(key, rate)
