r"""Start NUTS from the maximum-likelihood answer: initial values and a Fisher mass matrix.

Use :func:`mle_init` (or the init strategy :func:`init_to_mle`) when a NumPyro model
contains :func:`~numpyro_glm.glm` blocks: each block is fitted by IRLS
(:func:`numpyro_glm.fit`) and its estimates become the starting point, and the
covariance of the estimates becomes the inverse mass matrix
(:func:`mass_matrix_from_fit`), so that NUTS starts in the typical set with the right
metric and needs only a short warmup. :func:`numpyro_glm.nuts` does all of it in one
call.

**Mapping the MLE onto sites** (constrained space): ``f"{name}_coef"`` ← β̂;
``f"{name}_dispersion"`` ← φ̂ (Pearson χ²/df, R's estimate); ``f"{name}_alpha"`` ← α̂.
A block with an ``eta=`` term is fitted with that term, evaluated at the initial
values of the other sites (their fallback strategy, the prior median by default), as
an offset: the coefficients start consistent with where the random effects start.
Every other site starts from the fallback strategy.

**When there is no MLE** (separation, a non-finite fit) the block's coefficients start
from the fallback strategy instead, with a warning; aliased columns (NaN in the fit)
start there too. A maximum on the boundary of the parameter space
(``Status.BOUNDARY``, e.g. a binomial log link with μ̂ → 1) is a valid start, but its
covariance does not describe the posterior: such blocks are left out of
``MLEInit.mle_sites`` so that :func:`numpyro_glm.nuts` adapts the metric.

**The mass matrix** approximates the posterior covariance in NUTS's unconstrained
space, laid out as NumPyro's ``dense_mass=True`` expects: one dense block over all
latent sites sorted by name, ``{tuple(sorted(sites)): matrix}``, each site flattened
in its own order. For a block:

* coefficients: the fit's covariance Σ = φ̂(XᵀWX)⁻¹; by default the prior's curvature
  is added, Σ_post = (Σ⁻¹ + H_prior)⁻¹ with H_prior = −∇² log p(β) at β̂ (so a
  separated or weakly identified direction gets the prior's width, not infinity);
  directions with no information at all get variance 1;
* log φ: Var(log φ̂) ≈ 2/df_resid (exact asymptotically for the Gaussian and
  inverse Gaussian ML estimates; for the Gamma family the exact
  1/(df·k²(ψ'(k) − 1/k)) with shape k = 1/φ̂, which tends to 2/df);
* log α: (se(α̂)/α̂)², the delta method on the fit's ``alpha_se``;
* other sites: the identity (unit variance, no correlation); blocks are uncorrelated.

For sites whose prior has another support the constrained covariance is carried to
the unconstrained space by the Jacobian of NumPyro's bijection, J Σ Jᵀ.

**Jitter.** Chain c starts at the centre plus ``jitter``·L z_c in the unconstrained
space, z_c ~ N(0, I) and L the Cholesky factor of the glm sites' part of the mass
matrix: with ``jitter=1`` every chain starts at an independent draw from the Laplace
approximation of the posterior, so the chains are dispersed on the scale of the
posterior (as R-hat needs) but not in its tails. Sites without an MLE start at their
fallback value moved by ``jitter``·U(−1, 1) in the unconstrained space (a box of half
the width of NumPyro's ``init_to_uniform``). A chain whose coefficients give a mean
outside the family's range (possible with identity or inverse links) has its jitter
halved, up to 5 times, then set to 0. No model evaluation is needed: the check is
one product with X per block.
"""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import polygamma
from numpyro import handlers
from numpyro.distributions import biject_to
from numpyro.distributions.transforms import ExpTransform, IdentityTransform
from numpyro.infer.initialization import init_to_median, init_to_value

from .families import Gamma
from .fit import fit as _fit
from .irls import Status
from .model import INFER_KEY, GLMBlock, blocks_of_trace
from .results import GLMFit

__all__ = ["MLEInit", "init_to_mle", "mle_init", "mass_matrix_from_fit"]

_MAX_HALVINGS = 5
_FITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class MLEInit:
    """Initial values for NUTS from the maximum-likelihood fits of a model's glm blocks."""

    init_params: dict
    """Unconstrained starting values of every latent site, for ``MCMC.run(...,
    init_params=...)``: a leading axis of ``num_chains`` when ``num_chains > 1``, none
    for a single chain (as ``MCMC.run`` expects)."""
    values: dict
    """The centre (no jitter) in constrained space, every latent site: for
    ``init_to_value(values=...)``."""
    fits: dict
    """Block name → its :class:`~numpyro_glm.GLMFit`."""
    inverse_mass_matrix: dict
    """``{tuple(sorted(latent sites)): (d, d) matrix}``, for ``NUTS(...,
    inverse_mass_matrix=..., dense_mass=True)`` (see the module docs)."""
    coef_names: dict
    """Coefficient site → names of its coefficients."""
    mle_sites: tuple
    """The latent sites set by an MLE whose covariance applies: not those of blocks
    without an MLE (they start from the fallback strategy, with the prior's width in
    the mass matrix) nor of blocks whose maximum is on the boundary of the parameter
    space (``Status.BOUNDARY``: they start there, but their standard errors do not
    apply); :func:`numpyro_glm.nuts` adapts the metric when a site is missing here."""
    num_chains: int
    """How many chains ``init_params`` holds."""

    @property
    def init_strategy(self):
        """``init_to_value(values=self.values)``: the centre as a NumPyro init strategy."""
        return init_to_value(values=self.values)


# --------------------------------------------------------------------------- fitting blocks


def _fit_block(block: GLMBlock) -> GLMFit:
    """The block's MLE (once per traced block: both its sites ask for it)."""
    cached = _FITS.get(block)
    if cached is not None:
        return cached
    if block.y is None:
        raise ValueError(f"glm block {block.name!r} has no observed y, so there is no MLE to start from; call the "
                         "model with its data")
    result = _fit(block.X, block.y, block.family, weights=block.weights, offset=block.fit_offset,
                  trials=block.trials)
    # The names afterwards: as a static argument of fit they would cost a compilation.
    result = dataclasses.replace(result, coef_names=block.coef_names)
    _FITS[block] = result
    return result


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _mle_exists(fit: GLMFit):
    return (fit.status != Status.SEPARATION) & (fit.status != Status.NON_FINITE)


def _covariance_applies(fit: GLMFit) -> bool:
    """Whether φ̂(XᵀWX)⁻¹ describes the posterior (not at a boundary maximum, nor without an MLE)."""
    return bool(_mle_exists(fit)) and int(fit.status) != Status.BOUNDARY


def _centre(block: GLMBlock, fit: GLMFit, role: str, fallback, *, warn: bool):
    """The MLE of the block's ``role`` site, or ``fallback`` where there is none (trace-safe)."""
    dtype = jnp.result_type(fallback)
    if role == "coef":
        exists = _mle_exists(fit)
        if warn and _is_concrete(exists) and not bool(exists):
            warnings.warn(
                f"glm block {block.name!r}: the maximum-likelihood estimate does not exist "
                f"(status {Status(int(fit.status)).name}, e.g. separation); its coefficients start from the fallback "
                "init strategy (the prior median by default) instead",
                stacklevel=4,
            )
        coef = jnp.asarray(fit.coef, dtype)
        return jnp.where(exists & jnp.isfinite(coef), coef, fallback)
    if role == "dispersion":
        value = jnp.asarray(fit.dispersion, dtype)
    elif role == "alpha":
        value = jnp.asarray(fit.alpha, dtype)
    else:
        return fallback
    return jnp.where(jnp.isfinite(value) & (value > 0), value, fallback)


def init_to_mle(site=None, *, values=None, init_strategy=init_to_median):
    """A NumPyro init strategy: glm blocks' sites at their MLE, the others by ``init_strategy``.

    Use it as ``NUTS(model, init_strategy=init_to_mle())`` (or ``init_to_mle`` itself):
    NumPyro traces the model, and for each site of a :func:`~numpyro_glm.glm` block the
    block's data are fitted by :func:`numpyro_glm.fit` (once per trace). Unlike
    :func:`mle_init` it gives every chain the same centre (no jitter) and keeps
    NumPyro's own mass matrix; see :func:`numpyro_glm.nuts` for both.

    Args:
        site: the site (NumPyro calls the strategy with it); None returns the strategy.
        values: optional ``{site: constrained value}`` used first (e.g.
            ``MLEInit.values``), skipping the fits.
        init_strategy: for the sites no MLE covers (default ``init_to_median``), and
            for blocks without an MLE (separation; a warning says so).

    Returns:
        The site's initial value (constrained), or the strategy when ``site`` is None.

    Example:
        >>> import jax, numpy as np, numpyro
        >>> from numpyro_glm import Poisson, fit, glm, init_to_mle
        >>> X = np.column_stack([np.ones(5), np.arange(5.0)])
        >>> y = np.array([0.0, 1.0, 1.0, 3.0, 4.0])
        >>> model = lambda X, y: glm("y", X, y, family=Poisson())
        >>> seeded = numpyro.handlers.substitute(numpyro.handlers.seed(model, 0), substitute_fn=init_to_mle())
        >>> tr = numpyro.handlers.trace(seeded).get_trace(X, y)
        >>> bool(np.allclose(tr["y_coef"]["value"], fit(X, y, Poisson()).coef))
        True
    """
    if site is None:
        return partial(init_to_mle, values=values, init_strategy=init_strategy)
    if site["type"] != "sample" or site["is_observed"]:
        return None
    if values is not None and site["name"] in values:
        return values[site["name"]]
    record = (site.get("infer") or {}).get(INFER_KEY)
    fallback = init_strategy(site)
    if record is None or record["role"] == "obs" or site["value"] is not None:
        return fallback
    block = record["block"]
    return _centre(block, _fit_block(block), record["role"], fallback, warn=True)


# --------------------------------------------------------------------------- the mass matrix


def _latent_sites(trace) -> dict:
    return {
        name: site for name, site in trace.items()
        if site["type"] == "sample" and not site["is_observed"] and not site["fn"].support.is_discrete
    }


def _trace_at(model, key, strategy, model_args, model_kwargs):
    seeded = handlers.substitute(handlers.seed(model, key), substitute_fn=strategy)
    return handlers.trace(seeded).get_trace(*model_args, **model_kwargs)


def _inverse_with_unit_fallback(precision: np.ndarray) -> np.ndarray:
    """P⁻¹, with variance 1 along directions P says nothing about (eigenvalue ≈ 0)."""
    precision = 0.5 * (precision + precision.T)
    eigenvalues, vectors = np.linalg.eigh(precision)
    top = max(float(np.max(np.abs(eigenvalues))), np.finfo(float).tiny)
    informative = eigenvalues > 1e-12 * top
    variances = np.where(informative, 1.0 / np.where(informative, eigenvalues, 1.0), 1.0)
    return (vectors * variances) @ vectors.T


def _coef_covariance(fit: GLMFit, prior, value, include_prior: bool) -> np.ndarray:
    """Covariance of the coefficients in constrained space (see the module docs)."""
    cov = np.asarray(fit.cov, np.float64)
    p = cov.shape[0]
    valid = np.isfinite(np.asarray(fit.coef)) & np.all(np.isfinite(cov), axis=1)
    block = np.ix_(valid, valid)
    if not include_prior:
        out = np.eye(p)
        out[block] = cov[block]
        return out
    precision = np.zeros((p, p))
    if valid.any():
        precision[block] = np.linalg.pinv(cov[block], hermitian=True)
    hessian = -np.asarray(_prior_hessian(prior, jnp.asarray(value)), np.float64).reshape(p, p)
    hessian = 0.5 * (hessian + hessian.T)
    if np.all(np.isfinite(hessian)):
        eigenvalues, vectors = np.linalg.eigh(hessian)
        precision += (vectors * np.clip(eigenvalues, 0.0, None)) @ vectors.T  # a heavy tail adds no curvature
    return _inverse_with_unit_fallback(precision)


@jax.jit
def _prior_hessian(prior, value):
    # Jitted: one compilation instead of one per eager operation of the derivative.
    return jax.hessian(prior.log_prob)(value)


def _log_dispersion_variance(fit: GLMFit) -> float:
    """Var(log φ̂) (see the module docs)."""
    df = max(float(fit.df_resid), 1.0)
    if isinstance(fit.family, Gamma):
        shape = 1.0 / float(fit.dispersion)
        # Fisher information of the shape per row, ψ'(k) − 1/k; its asymptotic series
        # where the difference would cancel.
        if shape > 50.0:
            information = 1.0 / (2 * shape**2) + 1.0 / (6 * shape**3)
        else:
            information = float(polygamma(1, jnp.asarray(shape))) - 1.0 / shape
        if np.isfinite(information) and information > 0:
            return 1.0 / (df * shape * shape * information)
    return 2.0 / df


def _constrained_to_unconstrained(transform, value, cov: np.ndarray) -> np.ndarray:
    """J Σ Jᵀ, J the Jacobian of the unconstrained value with respect to the constrained one."""
    if isinstance(transform, IdentityTransform):
        return cov
    if isinstance(transform, ExpTransform):  # log: J = diag(1/value)
        inverse = 1.0 / np.asarray(value, np.float64).reshape(-1)
        return inverse[:, None] * cov * inverse[None, :]
    value = jnp.asarray(value)
    jacobian = jax.jit(jax.jacfwd(lambda v: jnp.reshape(transform.inv(v), (-1,))))(value)
    jacobian = np.asarray(jacobian, np.float64).reshape(-1, max(value.size, 1))
    return jacobian @ cov @ jacobian.T


@dataclass(frozen=True)
class _Layout:
    sites: tuple          # latent sites, sorted
    offsets: dict         # site → slice of the flat unconstrained vector
    covered: np.ndarray   # bool over the flat vector: set by an MLE


def _layout(latent: dict, unconstrained: dict) -> _Layout:
    sites = tuple(sorted(latent))
    offsets, start = {}, 0
    for name in sites:
        size = int(np.size(unconstrained[name]))
        offsets[name] = slice(start, start + size)
        start += size
    return _Layout(sites, offsets, np.zeros(start, bool))


def _mass_matrix(latent, values, transforms, unconstrained, blocks, fits, include_prior):
    layout = _layout(latent, unconstrained)
    matrix = np.eye(layout.covered.size)
    for name, block in blocks.items():
        fit = fits[name]
        for role, site in block.sites.items():
            if site not in latent or role == "obs":
                continue
            if role == "coef":
                cov = _coef_covariance(fit, latent[site]["fn"], values[site], include_prior)
            elif role == "dispersion":
                dispersion = float(np.asarray(values[site]))
                cov = np.array([[_log_dispersion_variance(fit) * dispersion ** 2]])
            else:  # alpha
                alpha, alpha_se = float(np.asarray(values[site])), float(np.asarray(fit.alpha_se))
                if not (np.isfinite(alpha_se) and alpha_se > 0):
                    continue
                cov = np.array([[alpha_se ** 2]])
            part = _constrained_to_unconstrained(transforms[site], values[site], cov)
            if not np.all(np.isfinite(part)):
                continue
            where = layout.offsets[site]
            matrix[where, where] = part
            layout.covered[where] = True
    return matrix, layout


def _dtype_of(values: dict):
    dtypes = [jnp.result_type(v) for v in values.values()]
    return jnp.result_type(*dtypes) if dtypes else jnp.result_type(float)


def _values_at_mle(trace, blocks, fits, *, warn: bool):
    """The model's latent sites with the glm blocks' sites set to their MLE.

    Returns (latent sites, constrained values, transforms, unconstrained values).
    """
    latent = _latent_sites(trace)
    values = {name: site["value"] for name, site in latent.items()}
    for name, block in blocks.items():
        for role, site in block.sites.items():
            if site in values:
                values[site] = _centre(block, fits[name], role, values[site], warn=warn)
    transforms = {name: biject_to(site["fn"].support) for name, site in latent.items()}
    unconstrained = {name: transforms[name].inv(values[name]) for name in latent}
    return latent, values, transforms, unconstrained


def mass_matrix_from_fit(fit, model, *model_args, include_prior: bool = True, key=None, **model_kwargs) -> dict:
    """A dense inverse mass matrix for NUTS from maximum-likelihood fits (see the module docs).

    Use it to give NUTS the Fisher metric while choosing the rest yourself:
    ``NUTS(model, inverse_mass_matrix=mass_matrix_from_fit(...), dense_mass=True)``.

    Args:
        fit: a :class:`~numpyro_glm.GLMFit` (a model with one glm block), a dict
            ``{block name: GLMFit}``, or an :class:`MLEInit` (its matrix is returned).
        model: the NumPyro model.
        *model_args, **model_kwargs: its arguments (with the data).
        include_prior: add the coefficient prior's curvature (default True); False
            gives exactly the fit's covariance in the coefficient block.
        key: ``jax.random`` key for the trace that finds the sites (default PRNGKey(0)).

    Returns:
        ``{tuple(sorted(latent sites)): matrix}``, the matrix (d, d) with d the total
        unconstrained size, in the dtype of the model's sites.

    Example:
        >>> import numpy as np
        >>> from numpyro_glm import Gaussian, fit, glm, mass_matrix_from_fit
        >>> X = np.column_stack([np.ones(6), np.arange(6.0)])
        >>> y = np.array([0.1, 1.2, 1.9, 3.2, 3.9, 5.1])
        >>> model = lambda X, y: glm("y", X, y, family=Gaussian())
        >>> mm = mass_matrix_from_fit(fit(X, y), model, X, y, include_prior=False)
        >>> list(mm), mm[("y_coef", "y_dispersion")].shape
        ([('y_coef', 'y_dispersion')], (3, 3))
    """
    if isinstance(fit, MLEInit):
        return dict(fit.inverse_mass_matrix)
    key = jax.random.PRNGKey(0) if key is None else key
    trace = _trace_at(model, key, init_to_median, model_args, model_kwargs)
    blocks = blocks_of_trace(trace)
    if isinstance(fit, GLMFit):
        if len(blocks) != 1:
            raise ValueError(f"the model has {len(blocks)} glm blocks ({list(blocks)}); pass a dict "
                             "{block name: GLMFit}")
        fits = {next(iter(blocks)): fit}
    elif isinstance(fit, dict):
        missing = sorted(set(blocks) - set(fit))
        if missing:
            raise ValueError(f"no fit given for glm block(s) {missing}")
        fits = fit
    else:
        raise ValueError(f"fit must be a GLMFit, a dict of them, or an MLEInit; got {type(fit).__name__}")
    latent, values, transforms, unconstrained = _values_at_mle(trace, blocks, fits, warn=False)
    matrix, layout = _mass_matrix(latent, values, transforms, unconstrained, blocks, fits, include_prior)
    return {layout.sites: jnp.asarray(matrix, _dtype_of(unconstrained))}


# --------------------------------------------------------------------------- mle_init


def mle_init(model, *model_args, num_chains: int = 1, key=None, jitter: float = 1.0, init_strategy=init_to_median,
             include_prior: bool = True, **model_kwargs) -> MLEInit:
    """Fit a model's glm blocks by maximum likelihood and turn the fits into NUTS's start.

    Use it to start ``MCMC.run`` from the MLE with dispersed chains, and to get the
    Fisher mass matrix in the same pass (:func:`numpyro_glm.nuts` calls it).

    Args:
        model: a NumPyro model with at least one :func:`~numpyro_glm.glm` block.
        *model_args, **model_kwargs: its arguments, with the observed data.
        num_chains: how many starting points.
        key: ``jax.random`` key (default ``PRNGKey(0)``), for the fallback strategy and
            the jitter.
        jitter: the spread of the starts, in posterior standard deviations for the
            MLE's sites (module docs); 0 starts every chain at the centre.
        init_strategy: for the sites the MLE does not cover (default
            ``init_to_median``) and for blocks without an MLE.
        include_prior: whether the mass matrix includes the coefficient prior's
            curvature (see :func:`mass_matrix_from_fit`).

    Returns:
        An :class:`MLEInit`: ``init_params`` (unconstrained, (num_chains, ...) when
        num_chains > 1), ``values`` (constrained centre), ``fits``,
        ``inverse_mass_matrix``, ``coef_names``.

    Raises:
        ValueError: when the model has no glm block, or a block has no observed y;
            with bad data, the errors of :func:`numpyro_glm.fit`.

    Example:
        >>> import jax, numpy as np
        >>> from numpyro.infer import MCMC, NUTS
        >>> from numpyro_glm import Poisson, glm, mle_init
        >>> X = np.column_stack([np.ones(50), np.linspace(-1, 1, 50)])
        >>> y = np.random.default_rng(0).poisson(np.exp(X @ [1.0, 0.5])).astype(float)
        >>> model = lambda X, y: glm("y", X, y, family=Poisson())
        >>> init = mle_init(model, X, y, num_chains=2)
        >>> init.init_params["y_coef"].shape
        (2, 2)
        >>> mcmc = MCMC(NUTS(model), num_warmup=50, num_samples=50, num_chains=2, progress_bar=False,
        ...             chain_method="sequential")
        >>> mcmc.run(jax.random.PRNGKey(1), X, y, init_params=init.init_params)
    """
    if int(num_chains) < 1:
        raise ValueError(f"num_chains must be at least 1, got {num_chains}")
    if not (np.isfinite(jitter) and jitter >= 0):
        raise ValueError(f"jitter must be a non-negative number, got {jitter}")
    num_chains = int(num_chains)
    key = jax.random.PRNGKey(0) if key is None else key
    key_centre, key_jitter, key_box = jax.random.split(key, 3)

    trace = _trace_at(model, key_centre, init_strategy, model_args, model_kwargs)
    blocks = blocks_of_trace(trace)
    if not blocks:
        raise ValueError("the model has no numpyro_glm.glm block: nothing to initialise from an MLE")
    fits = {name: _fit_block(block) for name, block in blocks.items()}
    latent, values, transforms, centre = _values_at_mle(trace, blocks, fits, warn=True)
    matrix, layout = _mass_matrix(latent, values, transforms, centre, blocks, fits, include_prior)
    dtype = _dtype_of(centre)

    covered_sites = _covered_sites(layout)
    covered = np.flatnonzero(layout.covered)
    factor = np.linalg.cholesky(matrix[np.ix_(covered, covered)]) if covered.size else np.zeros((0, 0))
    draws = np.asarray(jax.random.normal(key_jitter, (num_chains, covered.size)), np.float64)
    shifts = np.zeros((num_chains, layout.covered.size))
    shifts[:, covered] = draws @ factor.T  # chain c: L z_c

    # Sites without an MLE: the fallback strategy's value, moved by jitter·U(−1, 1) in
    # the unconstrained space (init_to_uniform's box, around the fallback).
    uncovered = ~layout.covered
    box = np.asarray(jax.random.uniform(key_box, (num_chains, int(uncovered.sum())), minval=-1.0, maxval=1.0))
    shifts[:, uncovered] = box

    # Halve the jitter of chains whose coefficients give an invalid mean (identity or
    # inverse links can leave the family's range), up to 5 times, then none.
    scale = np.full(num_chains, float(jitter))
    for _ in range(_MAX_HALVINGS + 2):
        flat = np.concatenate([np.asarray(centre[name], np.float64).reshape(-1) for name in layout.sites])
        starts = flat + scale[:, None] * shifts
        bad = ~_valid_means(blocks, layout, starts)
        if not bad.any() or not scale[bad].any():
            break
        scale[bad] = np.where(scale[bad] > jitter / 2**_MAX_HALVINGS, scale[bad] / 2, 0.0)
    params = {name: jnp.asarray(starts[:, layout.offsets[name]], dtype).reshape(num_chains, *np.shape(centre[name]))
              for name in layout.sites}
    init_params = {name: value[0] for name, value in params.items()} if num_chains == 1 else params
    return MLEInit(
        init_params=init_params,
        values=values,
        fits=fits,
        inverse_mass_matrix={layout.sites: jnp.asarray(matrix, dtype)},
        coef_names={block.sites["coef"]: block.coef_names for block in blocks.values()},
        mle_sites=tuple(sorted(
            site for name, block in blocks.items() if _covariance_applies(fits[name])
            for role, site in block.sites.items() if site in covered_sites
        )),
        num_chains=num_chains,
    )


def _valid_means(blocks: dict, layout: _Layout, starts: np.ndarray) -> np.ndarray:
    """Per start (row of ``starts``, flat unconstrained): whether every block's μ is valid.

    The coefficients of a real-supported prior are their own unconstrained values; the
    extra term ``eta`` is taken at the centre (where the other sites start).
    """
    valid = np.ones(starts.shape[0], bool)
    for block in blocks.values():
        site = block.sites["coef"]
        if site not in layout.offsets:
            continue
        coef = starts[:, layout.offsets[site]]
        eta = coef @ np.asarray(block.X, np.float64).T
        if block.fit_offset is not None:
            eta = eta + np.asarray(block.fit_offset, np.float64)
        mu = block.family.link.inverse(eta)
        ok = np.asarray(block.family.link.valid_eta(eta) & block.family.valid_mu(mu))
        valid &= ok.all(axis=1)
    return valid


def _covered_sites(layout: _Layout) -> set:
    return {name for name, where in layout.offsets.items() if layout.covered[where].any()}
