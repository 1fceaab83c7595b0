r"""``glm``: a generalized linear model as one line of a NumPyro model.

Call :func:`glm` inside any NumPyro model. It creates

* ``f"{name}_coef"``: one vector site over the p columns of X;
* ``f"{name}_dispersion"``: φ, for families with a free dispersion (Gaussian:
  the variance; Gamma: 1/shape; inverse Gaussian, Tweedie: φ);
* ``f"{name}_alpha"``: the NB2 α, for ``NegativeBinomial(alpha=None)``;
* ``name``: the response, inside ``numpyro.plate(f"{name}_rows", n)`` (observed when
  y is given; ``subsample_size`` gives mini-batches, scaled by the plate),

and returns μ = g⁻¹(Xβ + offset + eta) for the rows in the plate. The default priors
are in :mod:`numpyro_glm.priors`.

**Prior weights** follow :meth:`Family.log_prob <numpyro_glm.families.Family.log_prob>`,
that is R's ``glm`` (and statsmodels' ``var_weights``): the observation's log density
*is* ``family.log_prob(y, μ, φ, weights)``. For the Gaussian and Tweedie families a
weight divides the dispersion (Var(y) = φV(μ)/w); for the other families it multiplies
the log density (a frequency weight). In both cases the posterior mode of β under a
flat prior is ``fit(..., weights=w)``'s MLE; rows of weight 0 contribute nothing.
Simulated responses (``Predictive``) use the same dispersion φ/w for the Gaussian and
Tweedie families and are unweighted draws otherwise.

**What the block records.** Each site carries ``infer={"numpyro_glm": {"block":
GLMBlock, "role": ...}}`` with the data the block saw, so that
:func:`~numpyro_glm.mle_init` can fit it and :func:`coef_names` /
:func:`arviz_labels` can label it; the coefficient site also carries
``infer["coef_names"]``.

Example:
    >>> import jax, numpy as np, numpyro
    >>> from numpyro_glm import Poisson, glm
    >>> X = np.column_stack([np.ones(5), np.arange(5.0)])
    >>> y = np.array([0.0, 1.0, 1.0, 3.0, 4.0])
    >>> def model(X, y=None):
    ...     return glm("y", X, y, family=Poisson())
    >>> tr = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace(X, y)
    >>> tr["y_coef"]["value"].shape, tr["y"]["value"].shape
    ((2,), (5,))
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro import handlers

from .families import Binomial, Family, Gaussian, NegativeBinomial, Tweedie
from .fit import _check_rows
from .fit import _validate as _validate_fit_inputs
from .priors import Priors, _float_dtype, _is_traced, default_priors

__all__ = ["glm", "GLMBlock", "GLMObservation", "glm_blocks", "coef_names", "arviz_labels"]

INFER_KEY = "numpyro_glm"
"""The key of a site's ``infer`` dict under which a block records itself."""


# --------------------------------------------------------------------------- the block's record


@dataclass(frozen=True, eq=False)
class GLMBlock:
    """What one :func:`glm` call saw: its data, family, priors and site names.

    Found in ``site["infer"]["numpyro_glm"]["block"]`` of the block's sites (see
    :func:`glm_blocks`). It holds references to the arrays the model was called with
    (no copies).
    """

    name: str
    """The block's name (its observation site)."""
    X: object
    """Design matrix, shape (n, p)."""
    y: object
    """Response, shape (n,), or None."""
    family: Family
    """The family (for NB with estimated α, the one with ``alpha=None``)."""
    offset: object
    """Offset, shape (n,), or None."""
    weights: object
    """Prior weights, shape (n,), or None."""
    trials: object
    """Binomial trials, or None."""
    eta: object
    """The extra linear-predictor term at the values of this trace, or None."""
    priors: Priors
    """The priors the block sampled from."""
    coef_names: tuple
    """Names of the p coefficients (the DataFrame's columns, ``coef_names=``, or x0, x1, ...)."""
    sites: dict
    """Role ("coef", "dispersion", "alpha", "obs") → site name, for the roles present."""

    @property
    def fit_offset(self):
        """offset + eta: what :func:`numpyro_glm.fit` takes as the offset (None if neither)."""
        if self.eta is None:
            return self.offset
        eta = jnp.broadcast_to(jnp.asarray(self.eta), (np.shape(self.X)[0],))
        return eta if self.offset is None else jnp.asarray(self.offset, eta.dtype) + eta


# --------------------------------------------------------------------------- observation


def _weights_divide_dispersion(family: Family) -> bool:
    # families.py: for the Gaussian and Tweedie families log_prob uses φ/w.
    return isinstance(family, (Gaussian, Tweedie))


class GLMObservation(dist.Distribution):
    r"""A GLM response with prior weights: log p(y) = ``family.log_prob(y, μ, φ, weights, trials)``.

    The log density is the family's (one implementation of the likelihood, R's
    conventions for weights); draws come from ``family.distribution(μ, φ/w)`` for the
    Gaussian and Tweedie families and ``family.distribution(μ, φ)`` otherwise. Used by
    :func:`glm` when ``weights`` are given (without weights the site's distribution is
    ``family.distribution`` itself).

    Example:
        >>> import jax.numpy as jnp
        >>> from numpyro_glm import Gaussian
        >>> from numpyro_glm.model import GLMObservation
        >>> d = GLMObservation(Gaussian(), jnp.zeros(2), 1.0, jnp.array([1.0, 4.0]))
        >>> [round(float(v), 3) for v in d.log_prob(jnp.array([1.0, 1.0]))]  # N(0, 1), N(0, 1/4)
        [-1.419, -2.226]
    """

    arg_constraints = {}
    pytree_data_fields = ("mu", "dispersion", "weights", "trials", "base")
    pytree_aux_fields = ("family",)

    def __init__(self, family: Family, mu, dispersion=1.0, weights=None, trials=None, *, validate_args=None):
        self.family = family
        self.mu = jnp.asarray(mu)
        self.dispersion = dispersion
        self.weights = jnp.ones_like(self.mu) if weights is None else jnp.asarray(weights)
        self.trials = trials
        draw_dispersion = dispersion
        if _weights_divide_dispersion(family):
            draw_dispersion = jnp.asarray(dispersion) / jnp.where(self.weights > 0, self.weights, 1.0)
        self.base = family.distribution(self.mu, draw_dispersion, trials=trials)
        batch_shape = jax.lax.broadcast_shapes(self.base.batch_shape, jnp.shape(self.weights))
        super().__init__(batch_shape=batch_shape, event_shape=(), validate_args=validate_args)

    @property
    def support(self):
        return self.base.support

    def sample(self, key, sample_shape=()):
        return jnp.broadcast_to(self.base.sample(key, sample_shape), sample_shape + self.batch_shape)

    def log_prob(self, value):
        return self.family.log_prob(value, self.mu, self.dispersion, weights=self.weights, trials=self.trials)

    @property
    def mean(self):
        return jnp.broadcast_to(self.base.mean, self.batch_shape)

    @property
    def variance(self):
        return jnp.broadcast_to(self.base.variance, self.batch_shape)


# --------------------------------------------------------------------------- validation


def _as_array(x):
    """Concrete inputs as NumPy (a DataFrame or Series too); traced ones untouched."""
    if x is None or isinstance(x, (jax.Array, jax.core.Tracer)):
        return x
    return np.asarray(x)


def _validate(X, y, family: Family, weights, offset, trials) -> None:
    """The checks of :func:`numpyro_glm.fit`, with its messages (concrete arrays only)."""
    X = np.asarray(X, dtype=float)
    if y is None:
        # No response (prior predictive): check the other arguments against a valid one.
        y = np.zeros(X.shape[0] if X.ndim else 1) if isinstance(family, Binomial) else np.ones(X.shape[0] if X.ndim else 1)
    _validate_fit_inputs(X, y, family, weights, offset, None, trials, None)
    _check_rows("X", ~np.all(np.isfinite(X), axis=1), "must be finite (no NaN or inf)")


def _names(X, coef_names, p: int) -> tuple:
    if coef_names is None and hasattr(X, "columns"):
        coef_names = [str(c) for c in X.columns]
    if coef_names is None:
        return tuple(f"x{j}" for j in range(p))
    names = tuple(str(c) for c in coef_names)
    if len(names) != p:
        raise ValueError(f"coef_names has {len(names)} names for {p} columns of X")
    return names


_FUSED_DOT_MAX_COLUMNS = 16
"""Up to this many columns, :func:`linear_predictor` writes Xβ as βXᵀ on CPU."""


def linear_predictor(X: jax.Array, coef: jax.Array) -> jax.Array:
    """Xβ, shape (n,), for X of shape (n, p) and β of shape (p,).

    On CPU, for up to ``_FUSED_DOT_MAX_COLUMNS`` columns, it is written as β @ Xᵀ, the
    same sums: XLA then emits the product as a loop fused with what follows (the
    inverse link), where ``X @ β`` calls its matrix-vector routine, slow for a handful
    of columns. Measured on this project's 2-core machine, value and gradient of a
    glm block's Poisson log density at n = 10,000: p = 5, 100 → 32 µs (float32) and
    108 → 85 µs (float64); p = 12, 119 → 43 µs (float32); p = 16, 150 → 120 µs
    (float64). Forward only (posterior predictive draws), exp(Xβ) at p = 5 takes 4.4
    → 0.9 ns per row. From about 24 columns the two are level, and the routine wins
    for the forward product.

    Example:
        >>> import jax.numpy as jnp
        >>> from numpyro_glm.model import linear_predictor
        >>> linear_predictor(jnp.array([[1.0, 2.0], [1.0, 3.0]]), jnp.array([0.5, 1.0])).tolist()
        [2.5, 3.5]
    """
    if coef.ndim == 1 and X.shape[-1] <= _FUSED_DOT_MAX_COLUMNS and jax.default_backend() == "cpu":
        return coef @ X.T
    return X @ coef


def _rows(x, idx, subsampled: bool, dtype=None):
    if x is None:
        return None
    x = jnp.asarray(x) if dtype is None else jnp.asarray(x, dtype)
    if subsampled and jnp.ndim(x) >= 1:
        return jnp.take(x, idx, axis=0)
    return x


# --------------------------------------------------------------------------- glm


def glm(
    name: str,
    X,
    y=None,
    *,
    family: Family,
    priors=None,
    offset=None,
    weights=None,
    trials=None,
    eta=None,
    coef_names=None,
    subsample_size: int | None = None,
):
    """A GLM inside a NumPyro model: coefficient, dispersion and α sites, and the likelihood.

    Use it wherever a NumPyro model needs a regression: alone (``def model(X, y=None):
    glm("y", X, y, family=Poisson())``), or as one term of a larger model through
    ``eta=`` (random effects, splines, anything added to the linear predictor).

    Args:
        name: the observation site's name; the other sites are ``f"{name}_coef"``,
            ``f"{name}_dispersion"`` and ``f"{name}_alpha"``, the plate
            ``f"{name}_rows"``.
        X: design matrix, shape (n, p), array or DataFrame (its columns name the
            coefficients). No intercept is added: include a column of ones.
        y: response, shape (n,) (success counts for the binomial family), or None to
            sample it (prior or posterior predictive).
        family: a :class:`~numpyro_glm.families.Family`.
        priors: None (the data-scaled defaults of :mod:`numpyro_glm.priors`), a dict
            of overrides with keys among ``"coef"``, ``"intercept"``, ``"dispersion"``,
            ``"alpha"``, or a complete :class:`~numpyro_glm.priors.Priors`.
        offset: shape (n,), added to the linear predictor.
        weights: prior weights, shape (n,) (R's convention, see the module docs).
        trials: binomial trials, shape (n,) or scalar.
        eta: an extra term of the linear predictor, shape (n,) or scalar, e.g.
            ``group_effect[group]``.
        coef_names: names of the p columns (default: the DataFrame's columns, else
            x0, x1, ...).
        subsample_size: rows per mini-batch (the plate samples them and scales the
            log-likelihood by n/subsample_size); X, y, offset, weights, trials and a
            per-row eta are indexed by the plate's indices.

    Returns:
        μ, shape (n,) (or (subsample_size,)): the mean of the rows in the plate.

    Raises:
        ValueError: with concrete data, the errors of :func:`numpyro_glm.fit` with its
            messages (shapes, non-finite values, a response outside the family's
            support, negative weights, missing trials), and for bad priors.

    Example:
        >>> import jax, numpy as np, numpyro
        >>> from numpyro.infer import MCMC, NUTS
        >>> from numpyro_glm import Bernoulli, glm
        >>> rng = np.random.default_rng(0)
        >>> X = np.column_stack([np.ones(100), rng.normal(size=100)])
        >>> y = (rng.uniform(size=100) < 1 / (1 + np.exp(-X @ [0.5, 1.0]))).astype(float)
        >>> def model(X, y=None):
        ...     glm("y", X, y, family=Bernoulli())
        >>> mcmc = MCMC(NUTS(model), num_warmup=100, num_samples=100, progress_bar=False)
        >>> mcmc.run(jax.random.PRNGKey(0), X, y)
        >>> mcmc.get_samples()["y_coef"].shape
        (100, 2)
    """
    if not isinstance(family, Family):
        raise ValueError(f"family must be a numpyro_glm Family (e.g. numpyro_glm.Poisson()), got {family!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    names_from = X
    X, y, offset, weights, trials = (_as_array(a) for a in (X, y, offset, weights, trials))
    if not _is_traced(X, y, offset, weights, trials):
        _validate(X, y, family, weights, offset, trials)
    if np.ndim(X) != 2:
        raise ValueError(f"X must be a 2-D design matrix (n, p), got shape {np.shape(X)}")
    n, p = np.shape(X)
    dtype = _float_dtype(X)
    names = _names(names_from, coef_names, p)
    if eta is not None and np.shape(eta) not in ((), (n,)):
        raise ValueError(f"eta must be a scalar or have shape ({n},) like y, got {np.shape(eta)}")
    if subsample_size is not None and not (isinstance(subsample_size, (int, np.integer)) and 0 < subsample_size <= n):
        raise ValueError(f"subsample_size must be an integer in [1, {n}], got {subsample_size!r}")
    if family.uses_trials and trials is None:
        raise ValueError("the binomial family needs trials= (the number of trials of each row)")

    prior = default_priors(X, y, family, priors=priors, weights=weights, trials=trials, coef_names=names)
    estimates_alpha = isinstance(family, NegativeBinomial) and family.estimates_alpha
    sites = {"coef": f"{name}_coef"}
    if family.has_free_dispersion:
        sites["dispersion"] = f"{name}_dispersion"
    if estimates_alpha:
        sites["alpha"] = f"{name}_alpha"
    sites["obs"] = name
    block = GLMBlock(name=name, X=X, y=y, family=family, offset=offset, weights=weights, trials=trials, eta=eta,
                     priors=prior, coef_names=names, sites=sites)

    def infer(role):
        return {INFER_KEY: {"block": block, "role": role}}

    coef = numpyro.sample(sites["coef"], prior.coef, infer={**infer("coef"), "coef_names": names})
    dispersion = 1.0
    if family.has_free_dispersion:
        dispersion = numpyro.sample(sites["dispersion"], prior.dispersion, infer=infer("dispersion"))
    observed_family = family
    if estimates_alpha:
        alpha = numpyro.sample(sites["alpha"], prior.alpha, infer=infer("alpha"))
        observed_family = family.replace(alpha=alpha)

    with numpyro.plate(f"{name}_rows", n, subsample_size=subsample_size) as idx:
        subsampled = subsample_size is not None and subsample_size < n
        X_rows = _rows(X, idx, subsampled, dtype)
        linear = linear_predictor(X_rows, jnp.asarray(coef, dtype))
        if offset is not None:
            linear = linear + _rows(offset, idx, subsampled, dtype)
        if eta is not None:
            linear = linear + _rows(eta, idx, subsampled, dtype)
        mu = observed_family.link.inverse(linear)
        trials_rows = None
        if family.uses_trials:
            trials_rows = _rows(trials, idx, subsampled, dtype) * jnp.ones_like(mu)
        if weights is None:
            obs_dist = observed_family.distribution(mu, dispersion, trials=trials_rows)
        else:
            obs_dist = GLMObservation(observed_family, mu, dispersion, _rows(weights, idx, subsampled, dtype),
                                      trials_rows)
        numpyro.sample(name, obs_dist, obs=_rows(y, idx, subsampled), infer=infer("obs"))
    return mu


# --------------------------------------------------------------------------- finding blocks


def glm_blocks(model, *model_args, key=None, **model_kwargs) -> dict[str, GLMBlock]:
    """The :func:`glm` blocks of a model, by name, from one seeded trace of it.

    Use it to inspect what a model's blocks see (data, priors, site names).

    Args:
        model: a NumPyro model (callable).
        *model_args, **model_kwargs: its arguments.
        key: a ``jax.random`` key for the trace (default ``PRNGKey(0)``).

    Returns:
        A dict ``{block name: GLMBlock}`` in the order the model calls them.

    Example:
        >>> import numpy as np
        >>> from numpyro_glm import Poisson, glm, glm_blocks
        >>> X = np.column_stack([np.ones(3), [0.0, 1.0, 2.0]])
        >>> blocks = glm_blocks(lambda X, y: glm("counts", X, y, family=Poisson()), X, np.array([1.0, 0.0, 2.0]))
        >>> blocks["counts"].sites["coef"]
        'counts_coef'
    """
    key = jax.random.PRNGKey(0) if key is None else key
    trace = handlers.trace(handlers.seed(model, key)).get_trace(*model_args, **model_kwargs)
    return blocks_of_trace(trace)


def blocks_of_trace(trace) -> dict[str, GLMBlock]:
    """The :class:`GLMBlock` of every :func:`glm` call recorded in a NumPyro trace."""
    blocks = {}
    for site in trace.values():
        record = (site.get("infer") or {}).get(INFER_KEY)
        if record is not None and record["role"] == "coef":
            block = record["block"]
            if block.name in blocks:
                raise ValueError(f"two glm blocks are named {block.name!r}")
            blocks[block.name] = block
    return blocks


def coef_names(model, *model_args, **model_kwargs) -> dict[str, tuple[str, ...]]:
    """Coefficient names of every glm block: ``{coefficient site: names}``.

    Example:
        >>> import numpy as np
        >>> from numpyro_glm import Poisson, coef_names, glm
        >>> X = np.column_stack([np.ones(3), [0.0, 1.0, 2.0]])
        >>> model = lambda X, y: glm("y", X, y, family=Poisson(), coef_names=["(Intercept)", "dose"])
        >>> coef_names(model, X, np.array([1.0, 0.0, 2.0]))
        {'y_coef': ('(Intercept)', 'dose')}
    """
    return {b.sites["coef"]: b.coef_names for b in glm_blocks(model, *model_args, **model_kwargs).values()}


def arviz_labels(model, *model_args, **model_kwargs) -> dict:
    """``coords`` and ``dims`` that label the coefficients in ArviZ.

    Returns:
        ``{"coords": {f"{site}_dim": names}, "dims": {site: [f"{site}_dim"]}}`` for
        each coefficient site: pass it as ``az.from_numpyro(mcmc, **labels)``.

    Example:
        >>> import numpy as np
        >>> from numpyro_glm import Poisson, arviz_labels, glm
        >>> X = np.column_stack([np.ones(3), [0.0, 1.0, 2.0]])
        >>> model = lambda X, y: glm("y", X, y, family=Poisson(), coef_names=["(Intercept)", "dose"])
        >>> arviz_labels(model, X, np.array([1.0, 0.0, 2.0]))["dims"]
        {'y_coef': ['y_coef_dim']}
    """
    names = coef_names(model, *model_args, **model_kwargs)
    return {
        "coords": {f"{site}_dim": list(n) for site, n in names.items()},
        "dims": {site: [f"{site}_dim"] for site in names},
    }
