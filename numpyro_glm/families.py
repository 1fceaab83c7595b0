r"""Exponential-dispersion families: variance, deviance, likelihood, validation.

A family pairs a distribution for the response with a :mod:`~numpyro_glm.links`
link. Every family is an immutable, hashable object (a static argument of
:func:`jax.jit`) with one small interface:

==========================  ===========================================================
``variance(mu)``            V(μ), so that Var(y) = φ V(μ) / w
``unit_deviance(y, mu)``    d(y, μ), R's ``dev.resids`` without the weights
``deviance(y, mu, w)``      Σ w·d(y, μ)
``log_prob(y, mu, φ, w)``   per-observation log-likelihood, following R's ``family$aic``
``distribution(mu, φ)``     a NumPyro distribution, ready for ``numpyro.sample``
``starting_mu(y, w)``       R's ``mustart``
``valid_mu(mu)``            R's ``validmu``, elementwise
``validate_response(y)``    raises ``ValueError`` naming the bad rows
``response_rules()``        the support rules it checks (also on devices, for sharded rows)
``has_free_dispersion``     whether φ is estimated (Gaussian, Gamma, ...) or 1
==========================  ===========================================================

For :class:`Binomial`, ``y`` are success counts and every method takes ``trials``.

**Prior weights in** ``log_prob`` (R's conventions, so AIC matches R): for the
Gaussian and Tweedie families a weight divides the dispersion (Var = φ/w); for the
other families the log density is multiplied by w (frequency weights). Rows with
zero weight contribute 0.

Example:
    >>> import jax.numpy as jnp
    >>> from numpyro_glm import Poisson
    >>> family = Poisson()  # log link, as R
    >>> y, mu = jnp.array([0.0, 2.0]), jnp.array([0.5, 1.5])
    >>> round(float(family.deviance(y, mu)), 6)
    1.150728
"""

from __future__ import annotations

from typing import Callable, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import xlogy

from . import links as _links
from .distributions import Gamma as _GammaDistribution
from .distributions import InverseGaussian as _InverseGaussianDistribution
from .distributions import NegativeBinomial2 as _NegativeBinomial2
from .distributions import Poisson as _PoissonDistribution
from .distributions import Tweedie as _TweedieDistribution

__all__ = [
    "Family",
    "Gaussian",
    "Bernoulli",
    "Binomial",
    "Poisson",
    "Gamma",
    "InverseGaussian",
    "NegativeBinomial",
    "Tweedie",
    "get",
    "register",
    "available",
]

_MAX_ROWS_SHOWN = 5


# --------------------------------------------------------------------------- helpers


def _weights_or_one(weights):
    return 1.0 if weights is None else weights


def _weighted_log_prob(log_prob, weights, mu):
    """w · log p in the dtype of μ, with rows of zero weight contributing exactly 0.

    (NumPyro's discrete log-probabilities come back in float64 under x64 even for
    float32 parameters; the dtype follows the mean here.)
    """
    if weights is not None:
        weights = jnp.asarray(weights)
        log_prob = jnp.where(weights > 0, weights * log_prob, 0.0)
    return log_prob.astype(_float_dtype(mu))


def _float_dtype(x):
    dtype = jnp.result_type(x)
    return dtype if jnp.issubdtype(dtype, jnp.inexact) else jnp.result_type(float)


def _positive_weights(weights):
    """Weights with zeros replaced by 1, so φ/w stays finite on rows masked later."""
    weights = jnp.asarray(weights)
    return jnp.where(weights > 0, weights, 1.0)


def _raise_bad_rows(argument: str, bad: np.ndarray, values: np.ndarray, requirement: str, family: str):
    bad = np.asarray(bad)
    if not bad.any():
        return
    rows = np.argwhere(bad)
    shown = rows[:_MAX_ROWS_SHOWN]
    labels = [int(r[0]) if r.size == 1 else tuple(int(i) for i in r) for r in shown]
    shown_values = [values[tuple(r)] if values.ndim else values.item() for r in shown]
    more = f" (and {len(rows) - len(shown)} more)" if len(rows) > len(shown) else ""
    raise ValueError(
        f"{family} family: {argument} {requirement}; {len(rows)} bad row(s), first at "
        f"rows {labels} with values {[float(v) for v in shown_values]}{more}"
    )


class SupportRule(NamedTuple):
    """One rule of a family's support, stated once for both validation paths.

    ``bad(xp, value, rows)`` marks the rows of ``value`` (the argument's array) that
    break the rule; ``xp`` is NumPy for :meth:`Family.validate_response` on the host
    and ``jax.numpy`` for the on-device checks of sharded inputs, and ``rows`` holds
    the other arguments by name (``rows["trials"]``).
    """

    argument: str
    """"y" or "trials"."""
    requirement: str
    """What the error message says the argument must be, e.g. "must be positive"."""
    bad: Callable


_FINITE_Y = SupportRule("y", "must be finite (no NaN or inf)", lambda xp, v, rows: ~xp.isfinite(v))


_POSITIVE_Y = SupportRule("y", "must be positive", lambda xp, v, rows: v <= 0)


def _count_rules(argument: str) -> tuple[SupportRule, ...]:
    return (
        SupportRule(argument, "must be non-negative counts", lambda xp, v, rows: v < 0),
        SupportRule(argument, "must be integer counts", lambda xp, v, rows: v != xp.round(v)),
    )


def _concrete(argument: str, x) -> np.ndarray:
    if isinstance(x, jax.core.Tracer):
        raise ValueError(f"{argument} must be a concrete array to be validated (not a traced value inside jit)")
    return np.asarray(x, dtype=float)


def _xlog_ratio(x, denominator):
    """x log(x / denominator), 0 where x = 0, with finite gradients there too."""
    positive = x > 0
    return xlogy(x, jnp.where(positive, x, 1.0) / jnp.where(positive, denominator, 1.0))


def _binomial_unit_deviance(y, mu, trials):
    """2[y log(y/(nμ)) + (n−y) log((n−y)/(n(1−μ)))], y successes out of n."""
    failures = trials - y
    return 2.0 * (_xlog_ratio(y, trials * mu) + _xlog_ratio(failures, trials * (1.0 - mu)))


def _poisson_unit_deviance(y, mu):
    return 2.0 * (_xlog_ratio(y, mu) - (y - mu))


def _gamma_unit_deviance(y, mu):
    return 2.0 * ((y - mu) / mu - jnp.log(y / mu))


# --------------------------------------------------------------------------- base


class Family:
    """Base class of the exponential-dispersion families.

    Subclasses set the class attributes below and implement ``variance``,
    ``unit_deviance``, ``log_prob``, ``distribution``, ``starting_mu`` and the
    response checks. Instances are immutable and compare equal by type, link and
    parameters.
    """

    name: ClassVar[str] = "family"
    default_link: ClassVar[str] = "identity"
    allowed_links: ClassVar[tuple[str, ...]] = ()
    allows_power_links: ClassVar[bool] = False
    has_free_dispersion: ClassVar[bool] = True
    uses_trials: ClassVar[bool] = False

    link: _links.Link

    def __init__(self, link: str | _links.Link | None = None):
        self._set("link", self._checked_link(link))

    # -- construction and value semantics -------------------------------------------
    def _set(self, key, value):
        object.__setattr__(self, key, value)

    def __setattr__(self, key, value):
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace({key}=...)")

    def _params(self) -> dict:
        """Parameters besides the link, in constructor order."""
        return {}

    def replace(self, **changes) -> Family:
        """A copy with some constructor arguments changed, e.g. ``nb.replace(alpha=0.5)``."""
        kwargs = {**self._params(), "link": self.link, **changes}
        return type(self)(**kwargs)

    def __eq__(self, other):
        return type(other) is type(self) and other.link == self.link and other._params() == self._params()

    def __hash__(self):
        return hash((type(self).__name__, self.link, tuple(self._params().items())))

    def __repr__(self):
        params = "".join(f"{k}={v!r}, " for k, v in self._params().items())
        return f"{type(self).__name__}({params}link={self.link.name!r})"

    @classmethod
    def _checked_link(cls, link) -> _links.Link:
        link = _links.get(cls.default_link if link is None else link)
        allowed = (
            link.name in cls.allowed_links
            or (cls.allows_power_links and isinstance(link, _links.Power))
            # A user's own link is the user's responsibility, as in R.
            or isinstance(link, _links.CustomLink)
        )
        if not allowed:
            names = ", ".join(cls.allowed_links) + (", power(p)" if cls.allows_power_links else "")
            raise ValueError(
                f"link {link.name!r} is not available for the {cls.name} family; allowed links: {names} "
                f"(or a links.CustomLink of your own)"
            )
        return link

    def _no_trials(self, trials):
        if trials is not None:
            raise ValueError(f"trials is only used by the binomial family, not by {self.name}")

    # -- the interface -----------------------------------------------------------------
    def variance(self, mu):
        """V(μ): Var(y) = φ·V(μ)/w. Shape of ``mu``."""
        raise NotImplementedError

    def unit_deviance(self, y, mu, trials=None):
        """d(y, μ) per observation (R's ``dev.resids`` with unit weights)."""
        raise NotImplementedError

    def deviance(self, y, mu, weights=None, trials=None):
        """Σ wᵢ d(yᵢ, μᵢ): a scalar."""
        return jnp.sum(_weights_or_one(weights) * self.unit_deviance(y, mu, trials=trials))

    def log_prob(self, y, mu, dispersion=1.0, weights=None, trials=None):
        """Per-observation log-likelihood, shape of ``y`` (see the module docs for weights)."""
        raise NotImplementedError

    def distribution(self, mu, dispersion=1.0, trials=None, *, validate_args=None) -> dist.Distribution:
        """The NumPyro distribution of y given μ and φ (batch shape of ``mu``).

        ``validate_args`` as in NumPyro (``log_prob`` here always evaluates without it,
        so a non-integer count gives a number, not NumPyro's −inf and a warning).
        """
        raise NotImplementedError

    def starting_mu(self, y, weights=None, trials=None):
        """R's ``mustart``: a valid mean to start IRLS from."""
        raise NotImplementedError

    def valid_mu(self, mu):
        """Boolean array: where μ is in the family's range (R's ``validmu``)."""
        return jnp.isfinite(mu) & (mu > 0)

    def validate_response(self, y, trials=None) -> None:
        """Raise ``ValueError`` naming the first bad rows if y is outside the support.

        Runs on concrete arrays (at the public boundary, never inside jit): the rules
        of :meth:`response_rules`, in their order.
        """
        self._no_trials(trials)
        self._check_rules({"y": _concrete("y", y)})

    def response_rules(self) -> tuple[SupportRule, ...]:
        """The rules :meth:`validate_response` checks, in its order: y finite, then
        the family's support. Sharded inputs are checked on their devices by the
        same rules (:mod:`numpyro_glm.sharding`), so a family of your own that adds a
        rule here (``super().response_rules() + (rule,)``) gets it on both paths. A
        family that overrides ``validate_response`` itself is validated on the host.

        Example:
            >>> import numpy as np
            >>> from numpyro_glm import Poisson
            >>> [rule.requirement for rule in Poisson().response_rules()]
            ['must be finite (no NaN or inf)', 'must be non-negative counts', 'must be integer counts']
            >>> rule = Poisson().response_rules()[1]
            >>> rule.bad(np, np.array([1.0, -2.0]), {}).tolist()
            [False, True]
        """
        return (_FINITE_Y,) + self._support_rules()

    def _support_rules(self) -> tuple[SupportRule, ...]:
        return ()

    def _check_rules(self, rows: dict) -> None:
        for rule in self.response_rules():
            values = rows[rule.argument]
            _raise_bad_rows(rule.argument, rule.bad(np, values, rows), values, rule.requirement, self.name)


# --------------------------------------------------------------------------- families


class Gaussian(Family):
    r"""Normal responses: V(μ) = 1, d(y, μ) = (y − μ)².

    The family of linear models; the default link is the identity.

    Example:
        >>> from numpyro_glm import Gaussian
        >>> Gaussian(link="log")
        Gaussian(link='log')
    """

    name = "gaussian"
    default_link = "identity"
    allowed_links = ("identity", "log", "inverse")

    def variance(self, mu):
        return jnp.ones_like(mu)

    def unit_deviance(self, y, mu, trials=None):
        self._no_trials(trials)
        return jnp.square(y - mu)

    def log_prob(self, y, mu, dispersion=1.0, weights=None, trials=None):
        self._no_trials(trials)
        if weights is None:
            return dist.Normal(mu, jnp.sqrt(dispersion), validate_args=False).log_prob(y)
        # A prior weight divides the variance: the log density has +½ log w.
        scale = jnp.sqrt(dispersion / _positive_weights(weights))
        return jnp.where(jnp.asarray(weights) > 0, dist.Normal(mu, scale, validate_args=False).log_prob(y), 0.0)

    def distribution(self, mu, dispersion=1.0, trials=None, *, validate_args=None):
        self._no_trials(trials)
        return dist.Normal(mu, jnp.sqrt(dispersion), validate_args=validate_args)

    def starting_mu(self, y, weights=None, trials=None):
        self._no_trials(trials)
        return jnp.asarray(y)

    def valid_mu(self, mu):
        return jnp.isfinite(mu)


class Bernoulli(Family):
    r"""Binary responses y ∈ {0, 1}: V(μ) = μ(1 − μ).

    d(y, μ) = −2[y log μ + (1 − y) log(1 − μ)]; the default link is the logit.

    Example:
        >>> from numpyro_glm import Bernoulli
        >>> Bernoulli(link="probit")
        Bernoulli(link='probit')
    """

    name = "bernoulli"
    default_link = "logit"
    allowed_links = ("logit", "probit", "cauchit", "log", "logc", "cloglog", "loglog", "identity")
    has_free_dispersion = False

    def variance(self, mu):
        return mu * (1.0 - mu)

    def unit_deviance(self, y, mu, trials=None):
        self._no_trials(trials)
        return _binomial_unit_deviance(y, mu, 1.0)

    def log_prob(self, y, mu, dispersion=1.0, weights=None, trials=None):
        self._no_trials(trials)
        return _weighted_log_prob(self.distribution(mu, validate_args=False).log_prob(y), weights, mu)

    def distribution(self, mu, dispersion=1.0, trials=None, *, validate_args=None):
        self._no_trials(trials)
        return dist.Bernoulli(probs=mu, validate_args=validate_args)

    def starting_mu(self, y, weights=None, trials=None):
        self._no_trials(trials)
        weights = _weights_or_one(weights)
        return (weights * y + 0.5) / (weights + 1.0)

    def valid_mu(self, mu):
        return jnp.isfinite(mu) & (mu > 0) & (mu < 1)

    def _support_rules(self):
        return (SupportRule("y", "must be 0 or 1", lambda xp, v, rows: (v != 0) & (v != 1)),)


class Binomial(Family):
    r"""Success counts y out of ``trials`` n per row: V(μ) = μ(1 − μ), μ the probability.

    d(y, μ) = 2[y log(y/(nμ)) + (n − y) log((n − y)/(n(1 − μ)))]. Every method takes
    ``trials`` (an array like y, or a scalar). For 0/1 data use :class:`Bernoulli`.

    Example:
        >>> import jax.numpy as jnp
        >>> from numpyro_glm import Binomial
        >>> fam = Binomial()
        >>> float(fam.log_prob(jnp.array(2.0), jnp.array(0.5), trials=jnp.array(2.0)))  # log(1/4)
        -1.3862943611198906
    """

    name = "binomial"
    default_link = "logit"
    allowed_links = Bernoulli.allowed_links
    has_free_dispersion = False
    uses_trials = True

    @staticmethod
    def _required(trials):
        if trials is None:
            raise ValueError("the binomial family needs trials= (the number of trials of each row)")
        return trials

    def variance(self, mu):
        return mu * (1.0 - mu)

    def unit_deviance(self, y, mu, trials=None):
        return _binomial_unit_deviance(y, mu, self._required(trials))

    def log_prob(self, y, mu, dispersion=1.0, weights=None, trials=None):
        trials = self._required(trials)
        return _weighted_log_prob(self.distribution(mu, trials=trials, validate_args=False).log_prob(y), weights, mu)

    def distribution(self, mu, dispersion=1.0, trials=None, *, validate_args=None):
        return dist.Binomial(total_count=self._required(trials), probs=mu, validate_args=validate_args)

    def starting_mu(self, y, weights=None, trials=None):
        # R: (n·w·p + ½)/(n·w + 1) with p = y/n.
        weights = _weights_or_one(weights)
        return (weights * y + 0.5) / (weights * self._required(trials) + 1.0)

    def valid_mu(self, mu):
        return jnp.isfinite(mu) & (mu > 0) & (mu < 1)

    def validate_response(self, y, trials=None) -> None:
        y = _concrete("y", y)
        trials = _concrete("trials", self._required(trials))
        try:
            trials = np.broadcast_to(trials, y.shape)
        except ValueError:
            raise ValueError(f"binomial family: trials has shape {trials.shape}, y has shape {y.shape}") from None
        self._check_rules({"y": y, "trials": trials})

    def _support_rules(self):
        return (
            SupportRule("trials", "must be finite", lambda xp, v, rows: ~xp.isfinite(v)),
            *_count_rules("trials"),
            *_count_rules("y"),
            SupportRule("y", "must not exceed trials (y counts successes)", lambda xp, v, rows: v > rows["trials"]),
        )


class Poisson(Family):
    r"""Counts: V(μ) = μ, d(y, μ) = 2[y log(y/μ) − (y − μ)]; default link log.

    Example:
        >>> from numpyro_glm import Poisson
        >>> Poisson(link="sqrt")
        Poisson(link='sqrt')
    """

    name = "poisson"
    default_link = "log"
    allowed_links = ("log", "identity", "sqrt", "softplus")
    has_free_dispersion = False

    def variance(self, mu):
        return mu

    def unit_deviance(self, y, mu, trials=None):
        self._no_trials(trials)
        return _poisson_unit_deviance(y, mu)

    def log_prob(self, y, mu, dispersion=1.0, weights=None, trials=None):
        self._no_trials(trials)
        return _weighted_log_prob(self.distribution(mu, validate_args=False).log_prob(y), weights, mu)

    def distribution(self, mu, dispersion=1.0, trials=None, *, validate_args=None):
        self._no_trials(trials)
        return _PoissonDistribution(mu, validate_args=validate_args)

    def starting_mu(self, y, weights=None, trials=None):
        self._no_trials(trials)
        return jnp.asarray(y) + 0.1

    def _support_rules(self):
        return _count_rules("y")


class Gamma(Family):
    r"""Positive continuous responses: V(μ) = μ², d(y, μ) = 2[(y − μ)/μ − log(y/μ)].

    Shape 1/φ, mean μ. The default link is R's inverse; ``Gamma(link="log")`` is the
    usual choice in practice.

    Example:
        >>> from numpyro_glm import Gamma
        >>> Gamma(link="log").has_free_dispersion
        True
    """

    name = "gamma"
    default_link = "inverse"
    allowed_links = ("inverse", "log", "identity", "softplus")

    def variance(self, mu):
        return jnp.square(mu)

    def unit_deviance(self, y, mu, trials=None):
        self._no_trials(trials)
        return _gamma_unit_deviance(y, mu)

    def log_prob(self, y, mu, dispersion=1.0, weights=None, trials=None):
        self._no_trials(trials)
        return _weighted_log_prob(self.distribution(mu, dispersion, validate_args=False).log_prob(y), weights, mu)

    def distribution(self, mu, dispersion=1.0, trials=None, *, validate_args=None):
        self._no_trials(trials)
        shape = 1.0 / jnp.asarray(dispersion)
        return _GammaDistribution(shape, shape / mu, validate_args=validate_args)

    def starting_mu(self, y, weights=None, trials=None):
        self._no_trials(trials)
        return jnp.asarray(y)

    def _support_rules(self):
        return (_POSITIVE_Y,)


class InverseGaussian(Family):
    r"""Positive, right-skewed responses: V(μ) = μ³, d(y, μ) = (y − μ)²/(y μ²).

    The default link is R's ``1/mu^2`` (``"inverse_squared"``).

    Example:
        >>> from numpyro_glm import InverseGaussian
        >>> InverseGaussian().link.name
        'inverse_squared'
    """

    name = "inverse_gaussian"
    default_link = "inverse_squared"
    allowed_links = ("inverse_squared", "inverse", "identity", "log", "softplus")

    def variance(self, mu):
        return mu * mu * mu

    def unit_deviance(self, y, mu, trials=None):
        self._no_trials(trials)
        return jnp.square(y - mu) / (y * mu * mu)

    def log_prob(self, y, mu, dispersion=1.0, weights=None, trials=None):
        self._no_trials(trials)
        return _weighted_log_prob(self.distribution(mu, dispersion, validate_args=False).log_prob(y), weights, mu)

    def distribution(self, mu, dispersion=1.0, trials=None, *, validate_args=None):
        self._no_trials(trials)
        return _InverseGaussianDistribution(mu, 1.0 / jnp.asarray(dispersion), validate_args=validate_args)

    def starting_mu(self, y, weights=None, trials=None):
        self._no_trials(trials)
        return jnp.asarray(y)

    def _support_rules(self):
        return (_POSITIVE_Y,)


class NegativeBinomial(Family):
    r"""Overdispersed counts (NB2): V(μ) = μ + αμ².

    ``alpha`` is a fixed positive float, or ``None`` (the default) meaning "estimate
    it" — the fitter then reports the estimate; evaluate the family at a value with
    ``family.replace(alpha=value)``. The dispersion φ is 1; α plays its role.
    d(y, μ) = 2[y log(y/μ) − (y + 1/α) log((1 + αy)/(1 + αμ))].

    Example:
        >>> from numpyro_glm import NegativeBinomial
        >>> NegativeBinomial(alpha=0.5)
        NegativeBinomial(alpha=0.5, link='log')
        >>> NegativeBinomial().estimates_alpha
        True
    """

    name = "negative_binomial"
    default_link = "log"
    allowed_links = ("log", "cloglog", "identity", "softplus")
    allows_power_links = True
    has_free_dispersion = False

    def __init__(self, alpha: float | None = None, link: str | _links.Link | None = None):
        super().__init__(link)
        if alpha is not None and not isinstance(alpha, jax.core.Tracer):
            alpha = float(alpha)
            if not (np.isfinite(alpha) and alpha > 0):
                raise ValueError(f"negative_binomial family: alpha must be a positive float or None, got {alpha}")
        # A traced alpha is allowed: the fitter evaluates the family at its estimate.
        self._set("alpha", alpha)

    @property
    def estimates_alpha(self) -> bool:
        """True when α is to be estimated (``alpha=None``)."""
        return self.alpha is None

    def _params(self):
        return {"alpha": self.alpha}

    def _alpha(self):
        if self.alpha is None:
            raise ValueError(
                "NegativeBinomial(alpha=None) has no alpha to evaluate at; use family.replace(alpha=value)"
            )
        return self.alpha

    def variance(self, mu):
        return mu + self._alpha() * jnp.square(mu)

    def unit_deviance(self, y, mu, trials=None):
        self._no_trials(trials)
        alpha = self._alpha()
        inv_alpha = 1.0 / alpha
        return 2.0 * (_xlog_ratio(y, mu) - (y + inv_alpha) * jnp.log1p(alpha * (y - mu) / (1.0 + alpha * mu)))

    def log_prob(self, y, mu, dispersion=1.0, weights=None, trials=None):
        self._no_trials(trials)
        return _weighted_log_prob(self.distribution(mu, validate_args=False).log_prob(y), weights, mu)

    def distribution(self, mu, dispersion=1.0, trials=None, *, validate_args=None):
        self._no_trials(trials)
        return _NegativeBinomial2(
            mean=mu, concentration=1.0 / jnp.asarray(self._alpha()), validate_args=validate_args
        )

    def starting_mu(self, y, weights=None, trials=None):
        self._no_trials(trials)
        y = jnp.asarray(y)
        return y + (y == 0) / 6.0  # MASS::negative.binomial's mustart

    def _support_rules(self):
        return _count_rules("y")


class Tweedie(Family):
    r"""Tweedie exponential-dispersion model with V(μ) = μᵖ for a fixed power p.

    ``power`` is 0 (normal), 1 (Poisson-like, non-integer y allowed), any p in (1, 2)
    (compound Poisson–gamma: exact zeros plus positive amounts, e.g. insurance
    claims, rainfall), 2 (gamma), 3 (inverse Gaussian), or any other p > 2. The
    default link is log. Prior weights divide the dispersion (Var = φμᵖ/w).

    For p ∉ {0, 1, 2}: d(y, μ) = 2[y^(2−p)/((1−p)(2−p)) − yμ^(1−p)/(1−p) + μ^(2−p)/(2−p)].

    Example:
        >>> from numpyro_glm import Tweedie
        >>> Tweedie(1.5)
        Tweedie(power=1.5, link='log')
    """

    name = "tweedie"
    default_link = "log"
    allowed_links = ("log", "softplus")
    allows_power_links = True

    def __init__(self, power: float = 1.5, link: str | _links.Link | None = None):
        super().__init__(link)
        power = float(power)
        if not np.isfinite(power) or power < 0 or 0 < power < 1:
            raise ValueError(f"tweedie family: power must be 0 or >= 1 (no Tweedie model has 0 < p < 1), got {power}")
        self._set("power", power)

    def _params(self):
        return {"power": self.power}

    def variance(self, mu):
        p = self.power
        if p == 0:
            return jnp.ones_like(mu)
        if p == 1:
            return mu
        if p == 2:
            return jnp.square(mu)
        return jnp.power(mu, p)

    def unit_deviance(self, y, mu, trials=None):
        self._no_trials(trials)
        p = self.power
        if p == 0:
            return jnp.square(y - mu)
        if p == 1:
            return _poisson_unit_deviance(y, mu)
        if p == 2:
            return _gamma_unit_deviance(y, mu)
        positive = y > 0
        y_safe = jnp.where(positive, y, 1.0)  # y^(2-p) at 0 is 0 (p < 2); keep gradients finite
        y_term = jnp.where(positive, jnp.power(y_safe, 2.0 - p), 0.0) / ((1.0 - p) * (2.0 - p))
        return 2.0 * (y_term - y * jnp.power(mu, 1.0 - p) / (1.0 - p) + jnp.power(mu, 2.0 - p) / (2.0 - p))

    def log_prob(self, y, mu, dispersion=1.0, weights=None, trials=None):
        self._no_trials(trials)
        if weights is None:
            return self.distribution(mu, dispersion, validate_args=False).log_prob(y)
        scaled = jnp.asarray(dispersion) / _positive_weights(weights)
        return jnp.where(jnp.asarray(weights) > 0, self.distribution(mu, scaled, validate_args=False).log_prob(y), 0.0)

    def distribution(self, mu, dispersion=1.0, trials=None, *, validate_args=None):
        self._no_trials(trials)
        return _TweedieDistribution(mu, dispersion, self.power, validate_args=validate_args)

    def starting_mu(self, y, weights=None, trials=None):
        self._no_trials(trials)
        y = jnp.asarray(y)
        if self.power == 0:
            return y
        return y + 0.1 * (y == 0)  # statmod::tweedie's mustart

    def valid_mu(self, mu):
        if self.power == 0:
            return jnp.isfinite(mu)
        return super().valid_mu(mu)

    def _support_rules(self):
        p = self.power
        if p == 0:
            return ()
        if p < 2:
            return (SupportRule("y", f"must be non-negative (power {p:g})", lambda xp, v, rows: v < 0),)
        return (SupportRule("y", f"must be positive (power {p:g} >= 2)", lambda xp, v, rows: v <= 0),)


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, type[Family]] = {}
_ALIASES = {
    "normal": "gaussian",
    "inverse.gaussian": "inverse_gaussian",
    "inversegaussian": "inverse_gaussian",
    "negativebinomial": "negative_binomial",
    "negative.binomial": "negative_binomial",
    "nb": "negative_binomial",
    "nb2": "negative_binomial",
}


def register(name: str, family: type[Family], *, overwrite: bool = False) -> type[Family]:
    """Make ``get(name, ...)`` construct ``family`` (a :class:`Family` subclass).

    Example:
        >>> from numpyro_glm import families
        >>> class QuasiPoisson(families.Poisson):
        ...     name = "quasipoisson"
        ...     has_free_dispersion = True
        >>> _ = families.register("quasipoisson", QuasiPoisson, overwrite=True)
        >>> families.get("quasipoisson").has_free_dispersion
        True
    """
    if not (isinstance(family, type) and issubclass(family, Family)):
        raise ValueError(f"family must be a subclass of numpyro_glm.families.Family, got {family!r}")
    key = name.lower()
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"a family named {name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[key] = family
    return family


def available() -> list[str]:
    """Names of the registered families, sorted."""
    return sorted(_REGISTRY)


def get(family: str | Family, link: str | _links.Link | None = None, **params) -> Family:
    """The family named ``family`` built with ``link`` and ``params``; a Family passes through.

    Example:
        >>> from numpyro_glm import families
        >>> families.get("tweedie", power=1.3)
        Tweedie(power=1.3, link='log')

    Raises:
        ValueError: for an unknown name (the message lists the available ones), or a
            link the family cannot take.
    """
    if isinstance(family, Family):
        if link is not None or params:
            return family.replace(**({"link": link} if link is not None else {}), **params)
        return family
    if not isinstance(family, str):
        raise ValueError(f"family must be a name or a numpyro_glm Family, got {type(family).__name__}")
    key = family.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(f"unknown family {family!r}; available families: {', '.join(available())}")
    return _REGISTRY[key](link=link, **params)


for _cls in (Gaussian, Bernoulli, Binomial, Poisson, Gamma, InverseGaussian, NegativeBinomial, Tweedie):
    register(_cls.name, _cls)
del _cls
