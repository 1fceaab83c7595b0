r"""Chunked posterior predictive checks, pointwise log-likelihood and quantile residuals.

Use this module when a posterior has thousands of draws and the data has many rows:
``numpyro.infer.Predictive`` builds every replicated data set at once (``parallel=True``
asks for draws × n × itemsize bytes of device memory) or one at a time inside one
``lax.map`` whose whole output lives on the device. Here the draws are cut into chunks
of ``batch_size``; each chunk is one jitted call (a ``lax.map`` over its draws on CPU,
a ``vmap`` on accelerators) whose result is moved to host NumPy before the chunk after
next is started, so device memory is bounded by about 2 × batch_size × n whatever the
number of draws. With ``statistics=`` only the statistics of each replicate leave the
device: y_rep never exists in full anywhere.

**Which sites are replicated.** The model's observed sites (for a
:func:`~numpyro_glm.glm` block: the site ``name``). The model is called with its
observed data as usual (``y=y``); a handler turns each observed site into a sampled
one, so a model needs no rewriting. (``Predictive`` would return the observed y itself
for such a site: it only resamples sites whose ``obs`` is None.)

**Shapes.** ``samples`` is a dict of posterior draws, flat ``(draws, ...)`` or grouped
by chain ``(chains, draws, ...)`` (``mcmc.get_samples(group_by_chain=True)``), or the
``MCMC`` object itself (grouped). Whether a dict is grouped is read from the model's
own site shapes (or given as ``batch_ndims=``). Every result keeps the leading draw
shape: a replicated site is ``draw shape + site shape``, a statistic ``draw shape``.

**Randomness.** Draw i (in C order over the draw shape) uses
``jax.random.fold_in(key, i)``: the results do not depend on ``batch_size``.

Example:
    >>> import jax, numpy as np
    >>> import numpyro_glm as glm
    >>> X = np.column_stack([np.ones(50), np.linspace(-1, 1, 50)])
    >>> y = np.random.default_rng(0).poisson(np.exp(X @ [1.0, 0.5])).astype(float)
    >>> def model(X, y=None):
    ...     glm.glm("y", X, y, family=glm.Poisson())
    >>> draws = {"y_coef": np.tile([1.0, 0.5], (200, 1))}
    >>> ppc = glm.posterior_predictive(model, draws, X, y=y, key=jax.random.PRNGKey(0),
    ...                                statistics=["mean", "prop_zeros"])
    >>> ppc.statistics["mean"].replicated.shape, ppc.samples
    ((200,), None)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.infer.util import log_likelihood as _numpyro_log_likelihood
from numpyro.primitives import Messenger

from .heap import release_freed_heap
from .model import INFER_KEY, linear_predictor
from .residuals import is_discrete, normal_scores, pit_bounds

__all__ = [
    "posterior_predictive",
    "log_likelihood",
    "quantile_residuals",
    "PosteriorPredictive",
    "PPCStatistic",
    "STATISTICS",
]

_ELEMENTS_PER_CHUNK = 2**22
"""Default chunk: about this many replicated values (16 MB in float32) per chunk: small
beside the output, large enough that the per-chunk dispatch costs nothing."""


# --------------------------------------------------------------------------- statistics


def _sd(y):
    # The sample standard deviation, as R's sd() and bayesplot's ppc_stat(stat = "sd").
    return jnp.std(y, ddof=1)


STATISTICS: dict[str, Callable] = {
    "mean": jnp.mean,
    "sd": _sd,
    "var": lambda y: jnp.var(y, ddof=1),
    "min": jnp.min,
    "max": jnp.max,
    "median": jnp.median,
    "prop_zeros": lambda y: jnp.mean(y == 0),
}
"""The statistics known by name; ``"qNN"`` (``"q05"``, ``"q95"``, ...) is the NN% quantile
(linear interpolation, NumPy's default and R's type 7)."""

_QUANTILE = re.compile(r"^q(\d\d)$")


def _named_statistic(name: str) -> Callable | None:
    if name in STATISTICS:
        return STATISTICS[name]
    match = _QUANTILE.match(name)
    if match and 0 < int(match.group(1)) < 100:
        level = int(match.group(1)) / 100
        return lambda y: jnp.quantile(y, level)
    return None


def _statistic_functions(statistics) -> dict[str, Callable]:
    """``statistics=`` as {name: function of one replicate}; ValueError for unknown names."""
    if isinstance(statistics, (str, dict)) or callable(statistics):
        statistics = [statistics]
    functions = {}
    for item in statistics:
        entries = item.items() if isinstance(item, dict) else [(item, item)]
        for name, fn in entries:
            if isinstance(fn, str):
                found = _named_statistic(fn)
                if found is None:
                    raise ValueError(
                        f"statistics: unknown statistic {fn!r}; the names known are "
                        f"{sorted(STATISTICS)} and 'qNN' quantiles (q01 ... q99, e.g. 'q05', "
                        "'q95'); pass any other as {name: function of y_rep}"
                    )
                fn = found
            if not callable(fn):
                raise ValueError(f"statistics: {name!r} must be a statistic name or a callable, got {fn!r}")
            if not isinstance(name, str):
                name = getattr(name, "__name__", repr(name))
            if name in functions:
                raise ValueError(f"statistics: {name!r} is given twice")
            functions[name] = fn
    if not functions:
        raise ValueError("statistics: give at least one statistic (or leave statistics=None)")
    return functions


# --------------------------------------------------------------------------- results


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class PPCStatistic:
    """One statistic T of a posterior predictive check."""

    replicated: np.ndarray
    """T(y_rep) for every draw, shaped like the draws: (draws,) or (chains, draws)."""
    observed: np.ndarray
    """T(y), a scalar array."""
    p_value: np.ndarray
    """The posterior predictive p-value P(T(y_rep) ≥ T(y)) over all draws (BDA3 eq. 6.8,
    ArviZ's and bayesplot's convention): near 0 or 1 flags a misfit."""
    ties: np.ndarray
    """P(T(y_rep) = T(y)): large for discrete statistics (max, proportion of zeros)."""

    @property
    def p_value_mid(self) -> np.ndarray:
        """The mid-p value P(T(y_rep) > T(y)) + ½ P(T(y_rep) = T(y)), symmetric under ties."""
        return self.p_value - 0.5 * self.ties


@jax.tree_util.register_dataclass
@dataclass(frozen=True, repr=False)
class PosteriorPredictive:
    """What :func:`posterior_predictive` returns (host NumPy arrays)."""

    samples: dict | None
    """Replicated data: {observed site: array of draw shape + site shape}, or None
    (``return_samples=False``). ``to_inference_data(..., posterior_predictive=)`` takes it."""
    statistics: dict
    """{statistic name: :class:`PPCStatistic`} (empty without ``statistics=``)."""
    observed: dict
    """{observed site: its observed values}."""

    @property
    def draw_shape(self) -> tuple:
        """(draws,) or (chains, draws)."""
        first = next(iter(self.statistics.values()), None)
        if first is not None:
            return first.replicated.shape
        site, values = next(iter(self.samples.items()))
        return values.shape[: values.ndim - np.ndim(self.observed[site])]

    def summary(self) -> str:
        """A table of the statistics: observed value, replicated mean, sd and 95% interval, p-value."""
        shape = self.draw_shape
        draws = " × ".join(str(d) for d in shape) + (" (chains × draws)" if len(shape) == 2 else " draws")
        sites = ", ".join(f"{s} {tuple(np.shape(v))}" for s, v in self.observed.items())
        lines = [f"Posterior predictive check: {draws}; observed {sites}"]
        if self.samples is not None:
            lines.append(f"replicates kept: {', '.join(self.samples)}")
        if self.statistics:
            width = max(9, *(len(n) for n in self.statistics))
            columns = ("observed", "rep mean", "rep sd", "rep 2.5%", "rep 97.5%")
            header = f"{'statistic':<{width}} " + " ".join(f"{c:>11}" for c in columns) + f" {'p-value':>8}"
            lines += [header, "-" * len(header)]
            for name, s in self.statistics.items():
                rep = np.asarray(s.replicated, float).ravel()
                lo, hi = np.nanquantile(rep, [0.025, 0.975])
                lines.append(
                    f"{name:<{width}} {float(s.observed):>11.4g} {np.nanmean(rep):>11.4g} {np.nanstd(rep):>11.4g} "
                    f"{lo:>11.4g} {hi:>11.4g} {float(s.p_value):>8.3f}"
                )
            lines.append("p-value: P(T(y_rep) ≥ T(y)) over all draws")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------- the model's sites


class _resample_observed(Messenger):
    """Run the model as if ``obs=None`` at the given observed sites, so they are sampled."""

    def __init__(self, fn, sites):
        self.sites = frozenset(sites)
        super().__init__(fn)

    def process_message(self, msg):
        if msg["type"] == "sample" and msg["is_observed"] and msg["name"] in self.sites:
            msg["value"] = None
            msg["is_observed"] = False


@dataclass(frozen=True)
class _Draws:
    """Posterior draws flattened to (N, ...) host arrays, with what is needed to undo it."""

    params: dict
    """Latent site → (N,) + site shape."""
    draw_shape: tuple
    """(draws,) or (chains, draws)."""
    trace: dict
    """A prototype trace of the model (seeded, observed sites at their data)."""

    @property
    def count(self) -> int:
        return math.prod(self.draw_shape)


def _prototype_trace(model, samples, model_args, model_kwargs):
    """One eager run of the model at the first posterior draw, to read its sites.

    Latent sites found in ``samples`` take their first draw (value[0] or value[0, 0],
    whichever fits the site's shape) instead of a prior draw: running a sampler
    eagerly would compile it (seconds) only to throw the value away.
    """

    def first_draw(msg):
        value = samples.get(msg["name"])
        if msg["type"] != "sample" or msg["is_observed"] or value is None:
            return None
        value = np.asarray(value)
        site_shape = tuple(msg["kwargs"].get("sample_shape", ())) + tuple(msg["fn"].shape())
        ndims = value.ndim - len(site_shape)
        if ndims in (1, 2) and value.shape[ndims:] == site_shape and value.shape[0] > 0:
            return value[(0,) * ndims]
        return None  # reported by _draws with the site's shape

    run = handlers.substitute(model, substitute_fn=first_draw)
    return handlers.trace(handlers.seed(run, jax.random.PRNGKey(0))).get_trace(*model_args, **model_kwargs)


def _observed_sites(trace) -> list[str]:
    """The data sites: observed sample sites, less ``numpyro.factor``'s auxiliary ones."""
    return [
        name for name, site in trace.items()
        if site["type"] == "sample" and site["is_observed"] and not (site.get("infer") or {}).get("is_auxiliary")
    ]


def _draws(model, samples, model_args, model_kwargs, batch_ndims) -> _Draws:
    """Validate ``samples`` against the model's latent sites and flatten the draws."""
    if hasattr(samples, "get_samples"):  # an MCMC object: keep its chains
        samples, batch_ndims = samples.get_samples(group_by_chain=True), 2
    if not isinstance(samples, dict):
        raise ValueError(f"samples must be a dict of posterior draws or an MCMC object, got {type(samples).__name__}")
    if batch_ndims not in (None, 1, 2):
        raise ValueError(
            f"batch_ndims must be None (read from the model), 1 (draws) or 2 (chains, draws), got {batch_ndims!r}"
        )
    trace = _prototype_trace(model, samples, model_args, model_kwargs)
    if not _observed_sites(trace):
        raise ValueError("the model has no observed site (call it with its data, e.g. y=y)")
    latent = {name: site for name, site in trace.items() if site["type"] == "sample" and not site["is_observed"]}
    used = {name: np.asarray(value) for name, value in samples.items() if name in latent}
    if not used:
        raise ValueError(
            f"samples has none of the model's latent sites {sorted(latent)} (it has {sorted(samples)})"
        )
    shapes = {}
    for name, value in used.items():
        site_shape = np.shape(latent[name]["value"])
        ndims = value.ndim - len(site_shape)
        if value.shape[ndims:] != site_shape or ndims not in (1, 2) or ndims != (batch_ndims or ndims):
            expected = {1: "(draws, ...) (batch_ndims=1)", 2: "(chains, draws, ...) (batch_ndims=2)"}.get(
                batch_ndims, "(draws, ...) or (chains, draws, ...)")
            raise ValueError(
                f"samples[{name!r}] has shape {value.shape}; the site has shape {site_shape}, "
                f"so expected {expected} + {site_shape}"
            )
        shapes[name] = value.shape[:ndims]
    if len(set(shapes.values())) > 1:
        listing = ", ".join(f"{name}: {shape}" for name, shape in shapes.items())
        raise ValueError(f"samples: the sites' leading (draw) shapes differ: {listing}")
    draw_shape = next(iter(shapes.values()))
    if math.prod(draw_shape) == 0:
        raise ValueError(f"samples has no draws (draw shape {draw_shape})")
    params = {name: value.reshape((-1,) + value.shape[len(draw_shape):]) for name, value in used.items()}
    return _Draws(params=params, draw_shape=draw_shape, trace=trace)


def _check_batch_size(batch_size) -> None:
    if batch_size is None:
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer (draws per chunk) or None, got {batch_size!r}")


def _batch_size(batch_size, count: int, elements_per_draw: int) -> int:
    """Draws per chunk: the given one, or about 2^22 values per chunk; never more than the draws."""
    if batch_size is None:
        return max(1, min(count, _ELEMENTS_PER_CHUNK // max(1, elements_per_draw)))
    return int(min(batch_size, count))


def _map_draws(per_draw: Callable) -> Callable:
    """Apply ``per_draw`` to a chunk of draws: one ``vmap`` on accelerators, a ``lax.map``
    on CPU. On CPU one draw at a time keeps its arrays in cache, the while loops of
    rejection samplers stop at the slowest value of one draw rather than of the whole
    chunk, and the sampler is compiled once, unbatched (the fastest to compile)."""
    if jax.default_backend() == "cpu":
        return lambda xs: jax.lax.map(lambda x: per_draw(*x), xs)
    return lambda xs: jax.vmap(per_draw)(*xs)


def _run_chunked(per_draw: Callable, draws: _Draws, batch: int, out_specs: dict) -> dict:
    """Evaluate ``per_draw(params, draw_index)`` for every draw, ``batch`` draws per jitted call.

    Returns host arrays {output: (N,) + shape}. The last chunk is padded with copies of
    the last draw (one compilation); at most two chunks are on the device at a time:
    the next one is dispatched before the previous one is copied to the host.
    """
    count = draws.count
    chunk = jax.jit(_map_draws(per_draw))
    out = {name: np.empty((count,) + tuple(spec.shape), spec.dtype) for name, spec in out_specs.items()}

    def dispatch(start):
        index = np.minimum(np.arange(start, start + batch), count - 1)
        params = {name: value[index] for name, value in draws.params.items()}
        return chunk((params, jnp.asarray(index, jnp.uint32)))

    def store(start, result):
        stop = min(start + batch, count)
        for name, value in result.items():
            out[name][start:stop] = np.asarray(value)[: stop - start]

    pending = None
    for start in range(0, count, batch):
        result = dispatch(start)
        if pending is not None:
            store(*pending)
        # Give freed heap back to the OS before ``out`` fills further (see heap.py): after
        # the first dispatch, the compiler's; after each store, the finished chunk's
        # buffers. Otherwise it stays resident on top of the replicates. ~8 ms of host
        # time per chunk, while the device draws the next one.
        release_freed_heap()
        pending = (start, result)
    store(*pending)
    return out


def _check_key(key, name="key"):
    if key is None:
        raise ValueError(f"{name} must be a jax.random key (jax.random.PRNGKey(0) or jax.random.key(0))")
    return key


# --------------------------------------------------------------------------- posterior predictive


def posterior_predictive(
    model,
    samples,
    *model_args,
    key,
    batch_size: int | None = None,
    statistics=None,
    return_samples: bool | None = None,
    batch_ndims: int | None = None,
    **model_kwargs,
) -> PosteriorPredictive:
    r"""One replicated data set per posterior draw, in chunks, with optional PPC statistics.

    Use it instead of ``numpyro.infer.Predictive`` for posterior predictive checks with
    many draws or many rows: device memory stays bounded by ``batch_size`` draws, and
    ``statistics=`` keeps only T(y_rep) per draw.

    Args:
        model: a NumPyro model, called as ``model(*model_args, **model_kwargs)`` with its
            observed data (e.g. ``y=y``); every observed site is replicated.
        samples: posterior draws, ``{site: (draws, ...)}`` or ``{site: (chains, draws,
            ...)}``, or an ``MCMC`` object (its draws grouped by chain). Sites of the
            model missing from it are drawn from their priors; others are ignored.
        *model_args, **model_kwargs: the model's arguments.
        key: a ``jax.random`` key; draw i uses ``fold_in(key, i)``.
        batch_size: draws per chunk (default: about 2^22 replicated values per chunk).
        statistics: names (``"mean"``, ``"sd"``, ``"var"``, ``"min"``, ``"max"``,
            ``"median"``, ``"prop_zeros"``, ``"q05"``, ``"q95"``, any ``"qNN"``) and/or a
            dict ``{name: f}`` with ``f(y_rep) -> scalar`` a JAX function of one
            replicate (site shape; integer counts come as floats). Needs exactly one
            observed site.
        return_samples: keep the replicated data (default: True without statistics,
            False with them).
        batch_ndims: 1 for ``(draws, ...)``, 2 for ``(chains, draws, ...)``; None reads
            it from the model's site shapes.

    Returns:
        :class:`PosteriorPredictive`: ``.samples`` {site: draw shape + site shape} or
        None, ``.statistics`` {name: :class:`PPCStatistic`} (replicated: draw shape),
        ``.observed`` {site: data}; ``print(result)`` shows the table.

    Raises:
        ValueError: batch_size not a positive integer, unknown statistic names, sample
            sites with different draw shapes or shapes that do not fit the model, no
            observed site, statistics with several observed sites.

    Example:
        >>> import jax, numpy as np, numpyro, numpyro.distributions as dist
        >>> from numpyro_glm import posterior_predictive
        >>> def model(y=None):
        ...     rate = numpyro.sample("rate", dist.Gamma(2.0, 1.0))
        ...     with numpyro.plate("rows", 3):
        ...         numpyro.sample("y", dist.Poisson(rate), obs=y)
        >>> draws = {"rate": np.full((2, 10), 4.0)}  # 2 chains × 10 draws
        >>> ppc = posterior_predictive(model, draws, y=np.array([3.0, 5.0, 4.0]), key=jax.random.PRNGKey(1))
        >>> ppc.samples["y"].shape
        (2, 10, 3)
    """
    key = _check_key(key)
    _check_batch_size(batch_size)
    draws = _draws(model, samples, model_args, model_kwargs, batch_ndims)
    observed = {name: draws.trace[name]["value"] for name in _observed_sites(draws.trace)}
    functions = None if statistics is None else _statistic_functions(statistics)
    if return_samples is None:
        return_samples = functions is None
    if functions is None and not return_samples:
        raise ValueError("return_samples=False without statistics= leaves nothing to compute")
    if functions is not None and len(observed) != 1:
        raise ValueError(
            f"statistics= needs a model with one observed site; this one has {sorted(observed)}"
        )

    def replicate(params, index):
        draw_key = jax.random.fold_in(key, index)
        run = handlers.seed(handlers.substitute(_resample_observed(model, observed), params), draw_key)
        trace = handlers.trace(run).get_trace(*model_args, **model_kwargs)
        return {name: trace[name]["value"] for name in observed}

    stat_dtype = _statistic_dtype(observed)

    def per_draw(params, index):
        values = replicate(params, index)
        out = dict(values) if return_samples else {}
        if functions is not None:
            (y_rep,) = values.values()
            y_rep = jnp.asarray(y_rep, stat_dtype)
            for name, fn in functions.items():
                out[f"stat:{name}"] = jnp.asarray(fn(y_rep))
        return out

    example = {name: value[0] for name, value in draws.params.items()}
    specs = jax.eval_shape(per_draw, example, jnp.uint32(0))
    for name, spec in specs.items():
        if name.startswith("stat:") and spec.shape != ():
            raise ValueError(f"statistics: {name[5:]!r} must return a scalar per replicate, got shape {spec.shape}")
    per_draw_elements = sum(math.prod(np.shape(v)) for v in observed.values())
    batch = _batch_size(batch_size, draws.count, per_draw_elements)
    flat = _run_chunked(per_draw, draws, batch, specs)
    shaped = {name: value.reshape(draws.draw_shape + value.shape[1:]) for name, value in flat.items()}

    stats = {}
    if functions is not None:
        (y_obs,) = observed.values()
        y_obs = jnp.asarray(y_obs, stat_dtype)
        for name, fn in functions.items():
            stats[name] = _ppc_statistic(shaped[f"stat:{name}"], np.asarray(fn(y_obs)))
    samples_out = {name: shaped[name] for name in observed} if return_samples else None
    return PosteriorPredictive(
        samples=samples_out, statistics=stats, observed={k: np.asarray(v) for k, v in observed.items()}
    )


def _statistic_dtype(observed: dict):
    """Statistics are computed in the observed data's float dtype (counts become floats)."""
    dtype = jnp.result_type(next(iter(observed.values())))
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def _ppc_statistic(replicated: np.ndarray, observed: np.ndarray) -> PPCStatistic:
    return PPCStatistic(
        replicated=replicated,
        observed=observed,
        p_value=np.mean(replicated >= observed),
        ties=np.mean(replicated == observed),
    )


# --------------------------------------------------------------------------- log-likelihood


def log_likelihood(
    model, samples, *model_args, batch_size: int | None = None, batch_ndims: int | None = None, **model_kwargs
) -> dict:
    r"""Pointwise log-likelihood of every observed site for every draw, in chunks.

    The input of LOO (``az.loo``) and LOO-PIT: ``numpyro.infer.log_likelihood``'s
    numbers, computed ``batch_size`` draws at a time and gathered on the host
    (``numpyro.factor`` terms are not data, and are left out).

    Args:
        model, samples, *model_args, **model_kwargs, batch_size, batch_ndims: as
            :func:`posterior_predictive`.

    Returns:
        {observed site: log p(y_i | θ_draw)}, each of shape draw shape + site shape
        (e.g. (chains, draws, n)), host NumPy.

    Example:
        >>> import numpy as np, numpyro, numpyro.distributions as dist
        >>> from numpyro_glm import log_likelihood
        >>> def model(y=None):
        ...     loc = numpyro.sample("loc", dist.Normal(0.0, 1.0))
        ...     with numpyro.plate("rows", 2):
        ...         numpyro.sample("y", dist.Normal(loc, 1.0), obs=y)
        >>> ll = log_likelihood(model, {"loc": np.zeros(5)}, y=np.array([0.0, 1.0]))
        >>> ll["y"].shape, round(float(ll["y"][0, 1]), 4)  # log N(1 | 0, 1)
        ((5, 2), -1.4189)
    """
    _check_batch_size(batch_size)
    draws = _draws(model, samples, model_args, model_kwargs, batch_ndims)
    sites = _observed_sites(draws.trace)

    def per_draw(params, index):
        # Seeded only for latent sites missing from the samples (drawn from their priors).
        seeded = handlers.seed(model, jax.random.fold_in(jax.random.PRNGKey(0), index))
        values = _numpyro_log_likelihood(seeded, params, *model_args, batch_ndims=0, **model_kwargs)
        return {name: values[name] for name in sites}

    example = {name: value[0] for name, value in draws.params.items()}
    specs = jax.eval_shape(per_draw, example, jnp.uint32(0))
    per_draw_elements = sum(math.prod(spec.shape) for spec in specs.values())
    batch = _batch_size(batch_size, draws.count, per_draw_elements)
    flat = _run_chunked(per_draw, draws, batch, specs)
    return {name: value.reshape(draws.draw_shape + value.shape[1:]) for name, value in flat.items()}


# --------------------------------------------------------------------------- quantile residuals


def _site_pit_bounds(site, trace):
    """(F(y⁻), F(y)) of one observed site at this trace's parameter values.

    A :func:`~numpyro_glm.glm` block's site uses the family's distribution function
    (:func:`numpyro_glm.residuals.pit_bounds`) at μ = g⁻¹(Xβ + offset + eta); any other
    site its distribution's ``cdf``.
    """
    y = site["value"]
    record = (site.get("infer") or {}).get(INFER_KEY)
    if record is not None:
        block = record["block"]
        family = block.family
        if "alpha" in block.sites:
            family = family.replace(alpha=trace[block.sites["alpha"]]["value"])
        dispersion = trace[block.sites["dispersion"]]["value"] if "dispersion" in block.sites else 1.0
        X = jnp.asarray(block.X)
        if np.shape(y)[0] != X.shape[0]:
            raise NotImplementedError("a subsampled glm block (subsample_size=) has no per-row μ here")
        linear = linear_predictor(X, jnp.asarray(trace[block.sites["coef"]]["value"], X.dtype))
        if block.fit_offset is not None:
            linear = linear + jnp.asarray(block.fit_offset, X.dtype)
        mu = family.link.inverse(linear)
        y = jnp.asarray(y, X.dtype)
        return pit_bounds(family, y, mu, dispersion, weights=block.weights, trials=block.trials), is_discrete(family)
    fn = site["fn"]
    # A plate expands the distribution; the elementwise cdf is the base distribution's.
    while isinstance(fn, (dist.ExpandedDistribution, dist.Independent, dist.MaskedDistribution)):
        fn = fn.base_dist
    discrete = bool(getattr(fn.support, "is_discrete", False))
    upper = jnp.broadcast_to(fn.cdf(y), jnp.shape(y))
    if not discrete:
        return (upper, upper), False
    # F(y⁻) = F(y - 1), 0 where y - 1 is below the support (cdf may be NaN there).
    below = y - 1
    return (jnp.where(fn.support(below), jnp.broadcast_to(fn.cdf(below), jnp.shape(y)), 0.0), upper), True


def quantile_residuals(
    model, samples, *model_args, key=None, batch_size: int | None = None, batch_ndims: int | None = None, **model_kwargs
) -> dict:
    r"""Randomized quantile (Dunn–Smyth) residuals of every observed site, per posterior draw.

    r = Φ⁻¹(u), u = F(y | θ_draw) for a continuous response and u uniform on
    (F(y⁻ | θ), F(y | θ)] for a discrete one: standard normal for a correct model, the
    residuals to plot for counts and binary data. For a :func:`~numpyro_glm.glm` block
    F is its family's distribution function (:mod:`numpyro_glm.residuals`, one
    implementation with :meth:`GLMFit.quantile_residuals`); other sites use their
    distribution's ``cdf``.

    Args:
        model, samples, *model_args, **model_kwargs, batch_size, batch_ndims: as
            :func:`posterior_predictive`.
        key: a ``jax.random`` key, required when a site is discrete; draw i uses
            ``fold_in(key, i)``.

    Returns:
        {observed site: residuals of draw shape + site shape}, host NumPy.

    Raises:
        ValueError: a site without a distribution function (Tweedie with 1 < p < 2, a
            NumPyro distribution without ``cdf``), a discrete site and no key, and the
            errors of :func:`posterior_predictive`.

    Example:
        >>> import jax, numpy as np
        >>> import numpyro_glm as glm
        >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
        >>> def model(X, y=None):
        ...     glm.glm("y", X, y, family=glm.Poisson())
        >>> r = glm.quantile_residuals(model, {"y_coef": np.zeros((6, 2))}, X, y=np.array([0.0, 1.0, 3.0, 1.0]),
        ...                            key=jax.random.PRNGKey(0))
        >>> r["y"].shape
        (6, 4)
    """
    _check_batch_size(batch_size)
    draws = _draws(model, samples, model_args, model_kwargs, batch_ndims)
    sites = _observed_sites(draws.trace)
    for name in sites:
        try:
            _, discrete = _site_pit_bounds(draws.trace[name], draws.trace)
        except NotImplementedError as error:
            raise ValueError(
                f"quantile residuals of site {name!r}: its distribution function is not available ({error})"
            ) from None
        if discrete and key is None:
            raise ValueError(f"site {name!r} is discrete: its quantile residuals need key= (a jax.random key)")

    seed_key = jax.random.PRNGKey(0) if key is None else key

    def per_draw(params, index):
        # Seeded only for latent sites missing from the samples (drawn from their priors).
        run = handlers.seed(handlers.substitute(model, params), jax.random.fold_in(seed_key, index))
        trace = handlers.trace(run).get_trace(*model_args, **model_kwargs)
        out = {}
        for i, name in enumerate(sites):
            (lower, upper), discrete = _site_pit_bounds(trace[name], trace)
            draw_key = jax.random.fold_in(jax.random.fold_in(key, index), i) if discrete else None
            out[name] = normal_scores(lower, upper, draw_key)
        return out

    example = {name: value[0] for name, value in draws.params.items()}
    specs = jax.eval_shape(per_draw, example, jnp.uint32(0))
    batch = _batch_size(batch_size, draws.count, sum(math.prod(s.shape) for s in specs.values()))
    flat = _run_chunked(per_draw, draws, batch, specs)
    return {name: value.reshape(draws.draw_shape + value.shape[1:]) for name, value in flat.items()}
