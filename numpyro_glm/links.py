r"""Link functions g(μ) = η and their registry.

A link maps the mean μ of a GLM to the linear predictor η = Xβ. Every link is an
immutable, hashable object, so it can be a static argument of :func:`jax.jit` and
part of a pytree's static structure. Each link has

* ``link(mu)`` (``__call__``) — η = g(μ)
* ``inverse(eta)`` — μ = g⁻¹(η)
* ``deriv(mu)`` — dη/dμ = g'(μ)
* ``inverse_deriv(eta)`` — dμ/dη
* ``deriv2(mu)`` — d²η/dμ² (needed by the observed Hessian of non-canonical links)
* ``valid_eta(eta)`` — R's ``valideta``: where η lies in the link's range
* ``log_inverse(eta)`` / ``log1m_inverse(eta)`` — log μ and log(1 − μ) computed
  stably from η (used by likelihoods of probabilities)

**Numerical range.** As in R's ``make.link``, inverses of links onto a bounded or
half-bounded mean clip η so that μ and every derivative stay finite, in float32 and
float64 alike:

* links onto (0, 1) (logit, probit, cloglog, loglog, cauchit, logc) keep μ within
  [ε, 1 − ε], ε = ``finfo(dtype).eps`` (R uses the same bound);
* log and softplus keep |η| ≤ ``log(finfo(dtype).max) / 3`` (236.6 in float64,
  29.6 in float32), so μ, 1/μ, μ² and μ³ never overflow.

Within those bounds ``inverse(link(mu)) == mu``; ``inverse_deriv`` is evaluated at the
clipped η, so it never vanishes (IRLS weights stay positive).

Example:
    >>> import jax.numpy as jnp
    >>> from numpyro_glm import links
    >>> logit = links.get("logit")
    >>> float(logit.inverse(0.0))
    0.5
    >>> links.get("power(0.5)") == links.get("sqrt")
    True
"""

from __future__ import annotations

import re
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import expit, log_ndtr, ndtr, ndtri

__all__ = [
    "Link",
    "CustomLink",
    "Identity",
    "Log",
    "Logit",
    "Probit",
    "CLogLog",
    "LogLog",
    "Cauchit",
    "Inverse",
    "InverseSquared",
    "Sqrt",
    "Softplus",
    "LogC",
    "Power",
    "get",
    "register",
    "available",
]


# --------------------------------------------------------------------------- helpers


def _as_float(x) -> jax.Array:
    """An inexact array; integers become the default float dtype."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    return x


def _elementwise_derivative(f: Callable, x) -> jax.Array:
    """d f(x) / dx for an elementwise f, by one forward-mode pass."""
    x = _as_float(x)
    return jax.jvp(f, (x,), (jnp.ones_like(x),))[1]


def _eps(x: jax.Array):
    return jnp.finfo(x.dtype).eps


def _log_bound(x: jax.Array) -> float:
    """|η| bound for exponential inverses: μ, 1/μ, μ², μ³ all stay finite."""
    return float(np.log(jnp.finfo(x.dtype).max)) / 3.0


def _clip_symmetric(eta: jax.Array, bound) -> jax.Array:
    return jnp.clip(eta, -bound, bound)


def _log1mexp(x: jax.Array) -> jax.Array:
    """log(1 − exp(−x)) for x > 0, accurate for small and large x (Mächler 2012)."""
    small = x < np.log(2.0)
    x_small = jnp.where(small, x, 1.0)  # keep the unused branch finite for gradients
    x_large = jnp.where(small, 1.0, x)
    return jnp.where(small, jnp.log(-jnp.expm1(-x_small)), jnp.log1p(-jnp.exp(-x_large)))


def _log_ndtr(x: jax.Array) -> jax.Array:
    """log Φ(x), accurate also where Φ(x) is close to 1 (jax's log_ndtr is not)."""
    positive = x > 0
    x_pos = jnp.where(positive, x, 1.0)
    x_neg = jnp.where(positive, -1.0, x)
    return jnp.where(positive, jnp.log1p(-ndtr(-x_pos)), log_ndtr(x_neg))


# --------------------------------------------------------------------------- base


class Link:
    """Base class of link functions.

    Subclasses implement ``__call__`` and ``inverse``; the derivatives default to
    forward-mode autodiff of those two and built-in links override them with closed
    forms. Links are immutable and compare equal by type and parameters.
    """

    name: str = "link"

    def __call__(self, mu):
        raise NotImplementedError

    def inverse(self, eta):
        raise NotImplementedError

    def deriv(self, mu):
        """dη/dμ, the same shape as ``mu``."""
        return _elementwise_derivative(self.__call__, mu)

    def inverse_deriv(self, eta):
        """dμ/dη, the same shape as ``eta``."""
        return _elementwise_derivative(self.inverse, eta)

    def deriv2(self, mu):
        """d²η/dμ², the same shape as ``mu``."""
        return _elementwise_derivative(self.deriv, mu)

    def valid_eta(self, eta):
        """Boolean array: where η is a valid linear predictor (R's ``valideta``)."""
        return jnp.isfinite(eta)

    def log_inverse(self, eta):
        """log μ, computed from η as stably as the link allows."""
        return jnp.log(self.inverse(eta))

    def log1m_inverse(self, eta):
        """log(1 − μ), computed from η as stably as the link allows."""
        return jnp.log1p(-self.inverse(eta))

    # Immutability and value semantics -------------------------------------------
    def _params(self) -> tuple:
        return ()

    def __setattr__(self, key, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other):
        return type(other) is type(self) and other._params() == self._params()

    def __hash__(self):
        return hash((type(self).__name__, self._params()))

    def __repr__(self):
        return f"{type(self).__name__}()"


# --------------------------------------------------------------------------- user links


class CustomLink(Link):
    """A link from a forward function and its inverse; derivatives by autodiff.

    Use it to try a link the registry does not have. Both functions must be
    elementwise, jittable and differentiable; pass module-level functions (not fresh
    lambdas) if you want two constructions to compare equal.

    Args:
        name: the name the link is shown and registered under.
        forward: η = g(μ).
        inverse_fn: μ = g⁻¹(η).
        valid_eta_fn: optional; boolean array of valid η (default: finite).

    Example:
        >>> import jax.numpy as jnp
        >>> from numpyro_glm import links
        >>> def cube(mu): return mu ** 3
        >>> def cube_root(eta): return jnp.cbrt(eta)
        >>> cubic = links.CustomLink("cube", cube, cube_root)
        >>> float(cubic.deriv(2.0))
        12.0
    """

    def __init__(
        self,
        name: str,
        forward: Callable,
        inverse_fn: Callable,
        valid_eta_fn: Callable | None = None,
    ):
        for key, value in zip(("name", "forward", "inverse_fn", "valid_eta_fn"), (name, forward, inverse_fn, valid_eta_fn)):
            object.__setattr__(self, key, value)

    def _params(self):
        return (self.name, self.forward, self.inverse_fn, self.valid_eta_fn)

    def __call__(self, mu):
        return self.forward(_as_float(mu))

    def inverse(self, eta):
        return self.inverse_fn(_as_float(eta))

    def valid_eta(self, eta):
        if self.valid_eta_fn is None:
            return jnp.isfinite(eta)
        return self.valid_eta_fn(eta)

    def __repr__(self):
        return f"CustomLink({self.name!r})"


# --------------------------------------------------------------------------- built-ins


class Log(Link):
    r"""η = log μ. Canonical for Poisson; the default for counts and positive data.

    μ = exp(η) with η clipped to ±log(finfo.max)/3, so μ is never 0 or inf.
    """

    name = "log"

    def __call__(self, mu):
        return jnp.log(_as_float(mu))

    def _clipped(self, eta):
        eta = _as_float(eta)
        return _clip_symmetric(eta, _log_bound(eta))

    def inverse(self, eta):
        return jnp.exp(self._clipped(eta))

    def deriv(self, mu):
        return 1.0 / _as_float(mu)

    def deriv2(self, mu):
        mu = _as_float(mu)
        return -1.0 / (mu * mu)

    def inverse_deriv(self, eta):
        return jnp.exp(self._clipped(eta))

    def log_inverse(self, eta):
        return self._clipped(eta)

    def log1m_inverse(self, eta):
        return _log1mexp(-self._clipped(eta))


class Logit(Link):
    r"""η = log(μ / (1 − μ)). Canonical for Bernoulli and binomial data.

    μ = expit(η), with μ kept within [ε, 1 − ε].
    """

    name = "logit"

    def __call__(self, mu):
        mu = _as_float(mu)
        return jnp.log(mu) - jnp.log1p(-mu)

    def _clipped(self, eta):
        eta = _as_float(eta)
        eps = _eps(eta)
        return _clip_symmetric(eta, jnp.log1p(-eps) - jnp.log(eps))

    def inverse(self, eta):
        return expit(self._clipped(eta))

    def deriv(self, mu):
        mu = _as_float(mu)
        return 1.0 / (mu * (1.0 - mu))

    def deriv2(self, mu):
        mu = _as_float(mu)
        return (2.0 * mu - 1.0) / jnp.square(mu * (1.0 - mu))

    def inverse_deriv(self, eta):
        eta = self._clipped(eta)
        return expit(eta) * expit(-eta)

    def log_inverse(self, eta):
        return jax.nn.log_sigmoid(self._clipped(eta))

    def log1m_inverse(self, eta):
        return jax.nn.log_sigmoid(-self._clipped(eta))


class Probit(Link):
    r"""η = Φ⁻¹(μ), the standard normal quantile; μ = Φ(η) kept within [ε, 1 − ε]."""

    name = "probit"

    def __call__(self, mu):
        return ndtri(_as_float(mu))

    def _clipped(self, eta):
        eta = _as_float(eta)
        return _clip_symmetric(eta, -ndtri(_eps(eta)))

    def inverse(self, eta):
        return ndtr(self._clipped(eta))

    def deriv(self, mu):
        return 1.0 / _normal_pdf(ndtri(_as_float(mu)))

    def deriv2(self, mu):
        q = ndtri(_as_float(mu))
        return q / jnp.square(_normal_pdf(q))

    def inverse_deriv(self, eta):
        return _normal_pdf(self._clipped(eta))

    def log_inverse(self, eta):
        return _log_ndtr(self._clipped(eta))

    def log1m_inverse(self, eta):
        return _log_ndtr(-self._clipped(eta))


def _normal_pdf(x):
    return jnp.exp(-0.5 * x * x) * _INV_SQRT_2PI


_INV_SQRT_2PI = float(1.0 / np.sqrt(2.0 * np.pi))  # a Python float keeps float32 inputs float32


class CLogLog(Link):
    r"""η = log(−log(1 − μ)); μ = 1 − exp(−exp(η)) kept within [ε, 1 − ε].

    The complementary log-log link: for binary data from a grouped Poisson process.
    """

    name = "cloglog"

    def __call__(self, mu):
        return jnp.log(-jnp.log1p(-_as_float(mu)))

    def _clipped(self, eta):
        eta = _as_float(eta)
        eps = _eps(eta)
        return jnp.clip(eta, jnp.log(eps), jnp.log(-jnp.log(eps)))

    def inverse(self, eta):
        return -jnp.expm1(-jnp.exp(self._clipped(eta)))

    def deriv(self, mu):
        mu = _as_float(mu)
        return -1.0 / ((1.0 - mu) * jnp.log1p(-mu))

    def deriv2(self, mu):
        mu = _as_float(mu)
        log1m = jnp.log1p(-mu)
        return -(log1m + 1.0) / jnp.square((1.0 - mu) * log1m)

    def inverse_deriv(self, eta):
        eta = self._clipped(eta)
        return jnp.exp(eta - jnp.exp(eta))

    def log_inverse(self, eta):
        return _log1mexp(jnp.exp(self._clipped(eta)))

    def log1m_inverse(self, eta):
        return -jnp.exp(self._clipped(eta))


class LogLog(Link):
    r"""η = −log(−log μ); μ = exp(−exp(−η)) kept within [ε, 1 − ε]."""

    name = "loglog"

    def __call__(self, mu):
        return -jnp.log(-jnp.log(_as_float(mu)))

    def _clipped(self, eta):
        eta = _as_float(eta)
        eps = _eps(eta)
        return jnp.clip(eta, -jnp.log(-jnp.log(eps)), -jnp.log(eps))

    def inverse(self, eta):
        return jnp.exp(-jnp.exp(-self._clipped(eta)))

    def deriv(self, mu):
        mu = _as_float(mu)
        return -1.0 / (mu * jnp.log(mu))

    def deriv2(self, mu):
        mu = _as_float(mu)
        log_mu = jnp.log(mu)
        return (log_mu + 1.0) / jnp.square(mu * log_mu)

    def inverse_deriv(self, eta):
        eta = self._clipped(eta)
        return jnp.exp(-eta - jnp.exp(-eta))

    def log_inverse(self, eta):
        return -jnp.exp(-self._clipped(eta))

    def log1m_inverse(self, eta):
        return _log1mexp(jnp.exp(-self._clipped(eta)))


class Cauchit(Link):
    r"""η = tan(π(μ − ½)), the Cauchy quantile; μ = ½ + atan(η)/π within [ε, 1 − ε].

    Heavy-tailed alternative to probit: robust to outlying binary responses.
    """

    name = "cauchit"

    def __call__(self, mu):
        mu = _as_float(mu)
        # Work with the nearer tail, m = min(μ, 1 − μ), so μ close to 1 keeps precision.
        m = jnp.minimum(mu, 1.0 - mu)
        cot = jnp.cos(np.pi * m) / jnp.sin(np.pi * m)
        return jnp.where(mu < 0.5, -cot, cot)

    def _clipped(self, eta):
        eta = _as_float(eta)
        return _clip_symmetric(eta, 1.0 / jnp.tan(np.pi * _eps(eta)))

    def inverse(self, eta):
        # ½ + atan(η)/π, written as an angle so small μ keeps full relative precision.
        return jnp.arctan2(1.0, -self._clipped(eta)) / np.pi

    def deriv(self, mu):
        eta = self(mu)
        return np.pi * (1.0 + eta * eta)

    def deriv2(self, mu):
        eta = self(mu)
        return 2.0 * np.pi**2 * eta * (1.0 + eta * eta)

    def inverse_deriv(self, eta):
        eta = self._clipped(eta)
        return 1.0 / (np.pi * (1.0 + eta * eta))


class Softplus(Link):
    r"""η = log(exp(μ) − 1); μ = log(1 + exp(η)).

    A positive-mean link that is nearly the identity for large μ: use it where the
    log link's multiplicative effects are unwanted but μ must stay positive.
    """

    name = "softplus"

    def __call__(self, mu):
        mu = _as_float(mu)
        return mu + jnp.log(-jnp.expm1(-mu))

    def _clipped(self, eta):
        eta = _as_float(eta)
        return jnp.maximum(eta, -_log_bound(eta))

    def inverse(self, eta):
        return jax.nn.softplus(self._clipped(eta))

    def deriv(self, mu):
        return -1.0 / jnp.expm1(-_as_float(mu))

    def deriv2(self, mu):
        mu = _as_float(mu)
        return -jnp.exp(-mu) / jnp.square(jnp.expm1(-mu))

    def inverse_deriv(self, eta):
        return expit(self._clipped(eta))


class LogC(Link):
    r"""η = log(1 − μ); μ = 1 − exp(η) kept within [ε, 1 − ε].

    The log-complement link for binomial data (η < 0 keeps μ in (0, 1)).
    """

    name = "logc"

    def __call__(self, mu):
        return jnp.log1p(-_as_float(mu))

    def _clipped(self, eta):
        eta = _as_float(eta)
        eps = _eps(eta)
        return jnp.clip(eta, jnp.log(eps), jnp.log1p(-eps))

    def inverse(self, eta):
        return -jnp.expm1(self._clipped(eta))

    def deriv(self, mu):
        return -1.0 / (1.0 - _as_float(mu))

    def deriv2(self, mu):
        return -1.0 / jnp.square(1.0 - _as_float(mu))

    def inverse_deriv(self, eta):
        return -jnp.exp(self._clipped(eta))

    def valid_eta(self, eta):
        # μ ∈ (0, 1) needs η < 0; the clip would otherwise hide an invalid step.
        return jnp.isfinite(eta) & (eta < 0)

    def log_inverse(self, eta):
        return _log1mexp(-self._clipped(eta))

    def log1m_inverse(self, eta):
        return self._clipped(eta)


class Power(Link):
    r"""η = μᵖ for any p ≠ 0; μ = η^(1/p).

    ``Power(1)`` is the identity, ``Power(-1)`` the inverse, ``Power(-2)`` the
    inverse-squared and ``Power(0.5)`` the square-root link, and they compare equal
    to :class:`Identity`, :class:`Inverse`, :class:`InverseSquared` and :class:`Sqrt`.
    (R's ``power(0)`` is the log link: use :class:`Log`.)

    Those four use exact closed forms; other p use ``jnp.power``, valid for η > 0.
    """

    _NAMES = {1.0: "identity", -1.0: "inverse", -2.0: "inverse_squared", 0.5: "sqrt"}

    def __init__(self, p: float):
        p = float(p)
        if p == 0.0 or not np.isfinite(p):
            raise ValueError(
                f"Power(p) needs a finite p != 0, got {p}; Power(0) would be the log link: use links.Log()."
            )
        object.__setattr__(self, "p", p)

    p: float

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._NAMES.get(self.p, f"power({self.p:g})")

    def _params(self):
        return (self.p,)

    def __eq__(self, other):
        return isinstance(other, Power) and other.p == self.p

    def __hash__(self):
        return hash(("Power", self.p))

    def __repr__(self):
        if type(self) is Power:
            return f"Power({self.p:g})"
        return f"{type(self).__name__}()"

    def __reduce__(self):
        return (Power, (self.p,))

    def __call__(self, mu):
        mu, p = _as_float(mu), self.p
        if p == 1.0:
            return mu
        if p == -1.0:
            return 1.0 / mu
        if p == -2.0:
            return 1.0 / (mu * mu)
        if p == 0.5:
            return jnp.sqrt(mu)
        return jnp.power(mu, p)

    def inverse(self, eta):
        eta, p = _as_float(eta), self.p
        if p == 1.0:
            return eta
        if p == -1.0:
            return 1.0 / eta
        if p == -2.0:
            return jax.lax.rsqrt(eta)
        if p == 0.5:
            return eta * eta
        return jnp.power(eta, 1.0 / p)

    def deriv(self, mu):
        mu, p = _as_float(mu), self.p
        if p == 1.0:
            return jnp.ones_like(mu)
        if p == -1.0:
            return -1.0 / (mu * mu)
        if p == -2.0:
            return -2.0 / (mu * mu * mu)
        if p == 0.5:
            return 0.5 / jnp.sqrt(mu)
        return p * jnp.power(mu, p - 1.0)

    def deriv2(self, mu):
        mu, p = _as_float(mu), self.p
        if p == 1.0:
            return jnp.zeros_like(mu)
        if p == -1.0:
            return 2.0 / (mu * mu * mu)
        if p == -2.0:
            return 6.0 / jnp.square(mu * mu)
        if p == 0.5:
            return -0.25 / (mu * jnp.sqrt(mu))
        return p * (p - 1.0) * jnp.power(mu, p - 2.0)

    def inverse_deriv(self, eta):
        eta, p = _as_float(eta), self.p
        if p == 1.0:
            return jnp.ones_like(eta)
        if p == -1.0:
            return -1.0 / (eta * eta)
        if p == -2.0:
            return -0.5 * jax.lax.rsqrt(eta) / eta
        if p == 0.5:
            return 2.0 * eta
        return jnp.power(eta, 1.0 / p - 1.0) / p

    def valid_eta(self, eta):
        finite = jnp.isfinite(eta)
        if self.p == 1.0:
            return finite
        if self.p == -1.0:
            return finite & (eta != 0)
        return finite & (eta > 0)


class Identity(Power):
    """η = μ. Canonical for the Gaussian family."""

    def __init__(self):
        super().__init__(1.0)


class Inverse(Power):
    """η = 1/μ. Canonical for the Gamma family (R's default for ``Gamma()``)."""

    def __init__(self):
        super().__init__(-1.0)


class InverseSquared(Power):
    """η = 1/μ². Canonical for the inverse Gaussian family (R's ``"1/mu^2"``)."""

    def __init__(self):
        super().__init__(-2.0)


class Sqrt(Power):
    """η = √μ. A variance-stabilising link for Poisson counts."""

    def __init__(self):
        super().__init__(0.5)


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, Link] = {}
_ALIASES = {"1/mu^2": "inverse_squared", "1/mu": "inverse", "cauchy": "cauchit", "inverse_power": "inverse"}
_POWER_PATTERN = re.compile(r"^(?:power|mu\^)\(?\s*([-+0-9.eE]+)\s*\)?$")


def register(name: str, link: Link, *, overwrite: bool = False) -> Link:
    """Add ``link`` to the registry under ``name`` so ``get(name)`` and families find it.

    Args:
        name: registry key (case-insensitive).
        link: a :class:`Link`, typically a :class:`CustomLink`.
        overwrite: replace an existing entry instead of raising.

    Returns:
        The registered link.

    Example:
        >>> import jax.numpy as jnp
        >>> from numpyro_glm import links
        >>> def cube(mu): return mu ** 3
        >>> def cube_root(eta): return jnp.cbrt(eta)
        >>> _ = links.register("cube", links.CustomLink("cube", cube, cube_root), overwrite=True)
        >>> links.get("cube").name
        'cube'
    """
    if not isinstance(link, Link):
        raise ValueError(f"link must be a numpyro_glm.links.Link, got {type(link).__name__}")
    key = name.lower()
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"a link named {name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[key] = link
    return link


def available() -> list[str]:
    """Names of the registered links, sorted (``"power(p)"`` is also accepted by ``get``)."""
    return sorted(_REGISTRY)


def get(link: str | Link) -> Link:
    """The link named ``link`` (case-insensitive), or ``link`` itself if it is a Link.

    Accepts every name in :func:`available`, R's names (``"1/mu^2"``) and
    ``"power(p)"`` for any p ≠ 0.

    Raises:
        ValueError: for an unknown name; the message lists the available names.
    """
    if isinstance(link, Link):
        return link
    if not isinstance(link, str):
        raise ValueError(f"link must be a name or a numpyro_glm.links.Link, got {type(link).__name__}")
    key = link.strip().lower()
    key = _ALIASES.get(key, key)
    if key in _REGISTRY:
        return _REGISTRY[key]
    match = _POWER_PATTERN.match(key)
    if match:
        try:
            return Power(float(match.group(1)))
        except ValueError as err:
            if "could not convert" not in str(err):
                raise
    raise ValueError(f"unknown link {link!r}; available links: {', '.join(available())}, power(p)")


for _link in (
    Identity(),
    Log(),
    Logit(),
    Probit(),
    CLogLog(),
    LogLog(),
    Cauchit(),
    Inverse(),
    InverseSquared(),
    Sqrt(),
    Softplus(),
    LogC(),
):
    register(_link.name, _link)
del _link
