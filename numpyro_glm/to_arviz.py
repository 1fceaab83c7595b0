r"""Every ArviZ conversion and plot of numpyro_glm, in one module.

Use it to hand NumPyro fits and bootstraps to ArviZ (``az.summary``, ``az.loo``,
``az.plot_ppc``), and to put the posterior and the bootstrap side by side.

Names and labels are shared: a :func:`~numpyro_glm.glm` block named ``"y"`` has
posterior variables ``y_coef`` (dim ``y_coef_dim``, labelled by the coefficient
names), ``y_dispersion``, ``y_alpha``, and observations ``y`` (dim ``y_rows``, the
block's plate). :func:`bootstrap_to_inference_data` uses the same variable names,
dims and coords, so :func:`compare_bootstrap_posterior` and
:func:`plot_bootstrap_vs_posterior` line the two up by name.

ArviZ and matplotlib are imported inside the functions (``import arviz`` takes
seconds), so ``import numpyro_glm`` stays fast. This is written for ArviZ 0.2x
(``InferenceData``); ArviZ 1.x (``DataTree``) support is a change to this file only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import jax
import numpy as np

__all__ = [
    "to_inference_data",
    "bootstrap_to_inference_data",
    "compare_bootstrap_posterior",
    "plot_bootstrap_vs_posterior",
]

_SAMPLE_DIMS = ("chain", "draw")


# --------------------------------------------------------------------------- MCMC → InferenceData


def _coefficient_labels(model, model_args, model_kwargs, coef_names) -> dict[str, list[str]]:
    """{coefficient site: names} from the model's glm blocks, with the user's overrides."""
    from .model import coef_names as block_coef_names

    names = {site: list(n) for site, n in block_coef_names(model, *model_args, **model_kwargs).items()}
    if coef_names is None:
        return names
    if isinstance(coef_names, Mapping):
        overrides = coef_names
    elif len(names) == 1:
        overrides = {next(iter(names)): coef_names}
    else:
        raise ValueError(f"coef_names must be a dict {{site: names}} when the model has {len(names)} glm blocks "
                         f"({', '.join(names) or 'none'}); got a sequence")
    for site, given in overrides.items():
        site = site if site in names else f"{site}_coef"  # a block name works too
        if site not in names:
            raise ValueError(f"coef_names names {site!r}, but the model's coefficient sites are {sorted(names)}")
        given = [str(g) for g in given]
        if len(given) != len(names[site]):
            raise ValueError(f"coef_names for {site!r} has {len(given)} names for {len(names[site])} coefficients")
        names[site] = given
    return names


def _predictive_samples(posterior_predictive, n_chains: int, n_draws: int) -> dict[str, np.ndarray] | None:
    """Posterior predictive draws as {site: array (chains, draws, ...)} on the host."""
    if posterior_predictive is None:
        return None
    samples = getattr(posterior_predictive, "samples", posterior_predictive)
    if not isinstance(samples, Mapping):
        raise ValueError("posterior_predictive must be a dict {site: array (chains, draws, ...)} or an object with "
                         f"such a dict in .samples; got {type(posterior_predictive).__name__}")
    out = {}
    for site, values in samples.items():
        values = np.asarray(jax.device_get(values))
        if values.shape[:2] == (n_chains, n_draws):
            out[site] = values
        elif values.ndim >= 1 and values.shape[0] == n_chains * n_draws:
            out[site] = values.reshape((n_chains, n_draws) + values.shape[1:])
        else:
            raise ValueError(f"posterior_predictive[{site!r}] has shape {values.shape}; it must start with "
                             f"(chains, draws) = ({n_chains}, {n_draws}) like the posterior, or "
                             f"(chains·draws,) = ({n_chains * n_draws},)")
    return out


def to_inference_data(mcmc, *, posterior_predictive=None, log_likelihood: bool = True, coef_names=None):
    """An ArviZ ``InferenceData`` of a NumPyro MCMC run, with the glm blocks' coefficients labelled.

    Use it after ``mcmc.run(...)`` of a model with :func:`~numpyro_glm.glm` blocks
    (or any NumPyro model) to get ``az.summary``, ``az.loo`` and ``az.plot_ppc``
    with coefficient names instead of indices.

    Groups: ``posterior`` (each glm coefficient site, shape (chain, draw, p), dim
    ``f"{site}_dim"`` with the coefficient names as coords), ``sample_stats``,
    ``observed_data`` (dims from the model's plates, e.g. ``y_rows``),
    ``log_likelihood`` (per draw and observation, for ``az.loo``/``az.waic``) and,
    when given, ``posterior_predictive``.

    Args:
        mcmc: a ``numpyro.infer.MCMC`` that has run (its model and arguments are
            read from it).
        posterior_predictive: None, a dict ``{site: array}`` with shape
            (chains, draws, ...) or (chains·draws, ...), or an object with such a
            dict in ``.samples`` (e.g. the result of
            :func:`numpyro_glm.posterior_predictive`).
        log_likelihood: whether to compute the ``log_likelihood`` group.
        coef_names: override the coefficient names: a dict ``{site or block name:
            names}``, or a sequence of p names when the model has one glm block.

    Returns:
        ``arviz.InferenceData``.

    Raises:
        ValueError: for predictive draws whose leading shape is not the posterior's,
            or coefficient names that do not fit the model.

    Example:
        >>> import jax, numpy as np, numpyro_glm as glm
        >>> from numpyro.infer import MCMC, NUTS
        >>> rng = np.random.default_rng(0)
        >>> X = np.column_stack([np.ones(50), rng.normal(size=50)])
        >>> y = rng.poisson(np.exp(X @ [0.5, 0.3])).astype(float)
        >>> def model(X, y=None):
        ...     glm.glm("y", X, y, family=glm.Poisson(), coef_names=["(Intercept)", "x"])
        >>> mcmc = MCMC(NUTS(model), num_warmup=200, num_samples=200, progress_bar=False)
        >>> mcmc.run(jax.random.key(0), X, y)
        >>> idata = glm.to_inference_data(mcmc)
        >>> idata.posterior["y_coef"].coords["y_coef_dim"].values.tolist()
        ['(Intercept)', 'x']
        >>> idata.log_likelihood["y"].shape
        (1, 200, 50)
    """
    import arviz as az

    if not hasattr(mcmc, "get_samples") or not hasattr(mcmc, "sampler"):
        raise ValueError(f"mcmc must be a numpyro.infer.MCMC that has run, got {type(mcmc).__name__}")
    model, args, kwargs = mcmc.sampler.model, mcmc._args, mcmc._kwargs  # what az.from_numpyro reads too
    if model is None or args is None:
        raise ValueError("mcmc has no model run to convert: call mcmc.run(key, *model_args) first")
    labels = _coefficient_labels(model, args, kwargs, coef_names)
    n_chains, n_draws = mcmc.num_chains, mcmc.num_samples // mcmc.thinning
    return az.from_numpyro(
        mcmc,
        posterior_predictive=_predictive_samples(posterior_predictive, n_chains, n_draws),
        log_likelihood=bool(log_likelihood),
        # Plates still name the observation dims (az.from_numpyro infers those only
        # when dims is None); the coefficients' event dim is added on top.
        extra_event_dims={site: [f"{site}_dim"] for site in labels},
        coords={f"{site}_dim": names for site, names in labels.items()},
    )


# --------------------------------------------------------------------------- bootstrap → InferenceData


def bootstrap_to_inference_data(boot, coef_names=None, *, name: str = "y"):
    """A bootstrap as an ArviZ posterior: chain = 1, draw = converged replicate.

    Use it to put a :func:`~numpyro_glm.bootstrap` next to a posterior in ArviZ
    (``az.summary``, ``az.plot_forest``, :func:`compare_bootstrap_posterior`).
    Variables are named as the posterior of a ``glm(name, ...)`` block:
    ``f"{name}_coef"`` (shape (1, n_converged, p), dim ``f"{name}_coef_dim"``),
    ``f"{name}_dispersion"`` and ``f"{name}_alpha"`` where the bootstrap has them.
    Replicates that did not converge are left out (``attrs`` records how many).

    Args:
        boot: a :class:`~numpyro_glm.bootstrap.BootstrapResult`.
        coef_names: p coefficient names (default: the bootstrap's).
        name: the glm block name to match (default "y").

    Returns:
        ``arviz.InferenceData`` with a ``posterior`` group.

    Raises:
        ValueError: when no replicate converged, or coef_names has the wrong length.

    Example:
        >>> import jax, numpy as np, numpyro_glm as glm
        >>> X = np.column_stack([np.ones(40), np.linspace(-1, 1, 40)])
        >>> y = np.random.default_rng(0).poisson(np.exp(X @ [1.0, 0.5])).astype(float)
        >>> boot = glm.bootstrap(X, y, glm.Poisson(), n_boot=100, key=jax.random.key(0))
        >>> idata = glm.bootstrap_to_inference_data(boot, ["(Intercept)", "x"])
        >>> idata.posterior["y_coef"].shape
        (1, 100, 2)
    """
    import arviz as az

    if not hasattr(boot, "coef") or not hasattr(boot, "converged"):
        raise ValueError(f"boot must be a numpyro_glm BootstrapResult, got {type(boot).__name__}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string (the glm block's name), got {name!r}")
    keep = np.asarray(boot.converged, bool)
    if not keep.any():
        raise ValueError(f"none of the {keep.size} bootstrap replicates converged: nothing to convert")
    p = boot.coef.shape[-1]
    names = list(boot.coef_names) if coef_names is None else [str(c) for c in coef_names]
    if len(names) != p:
        raise ValueError(f"coef_names has {len(names)} names for {p} coefficients")

    coef_site = f"{name}_coef"
    posterior = {coef_site: np.asarray(boot.coef)[keep][None]}
    for role, values in (("dispersion", boot.dispersion), ("alpha", boot.alpha)):
        if values is not None:
            posterior[f"{name}_{role}"] = np.asarray(values)[keep][None]
    attrs = {"inference_library": "numpyro_glm.bootstrap", "bootstrap_kind": boot.kind,
             "n_boot": int(keep.size), "n_failed": int(keep.size - keep.sum())}
    idata = az.from_dict(posterior=posterior, coords={f"{coef_site}_dim": names},
                         dims={coef_site: [f"{coef_site}_dim"]})
    idata.posterior.attrs.update(attrs)  # (from_dict's attrs= does not reach the group in ArviZ 0.23)
    return idata


# --------------------------------------------------------------------------- comparison


def _posterior_group(idata, argument: str):
    posterior = getattr(idata, "posterior", None)
    if posterior is None:
        raise ValueError(f"{argument} must be an arviz.InferenceData with a posterior group")
    return posterior


def _shared_var_names(post, boot, var_names) -> list[str]:
    if var_names is None:
        names = [v for v in post.data_vars if v in boot.data_vars]
        if not names:
            raise ValueError(f"the posterior ({list(post.data_vars)}) and the bootstrap ({list(boot.data_vars)}) "
                             "share no variable: pass name= to bootstrap_to_inference_data to match the glm block")
        return names
    names = [var_names] if isinstance(var_names, str) else list(var_names)
    for v in names:
        for label, group in (("idata_posterior", post), ("idata_bootstrap", boot)):
            if v not in group.data_vars:
                raise ValueError(f"var_names: {v!r} is not in {label}'s posterior (it has {list(group.data_vars)})")
    return names


def _flat_draws(da):
    """(draws, components) and one label per component ("" for a scalar)."""
    extra = [d for d in da.dims if d not in _SAMPLE_DIMS]
    da = da.transpose(*_SAMPLE_DIMS, *extra)
    values = np.asarray(da.values, float).reshape(da.sizes["chain"] * da.sizes["draw"], -1)
    if not extra:
        return values, [""]
    grids = np.meshgrid(*[np.asarray(da.coords[d].values) if d in da.coords else np.arange(da.sizes[d])
                          for d in extra], indexing="ij")
    labels = [", ".join(str(g.flat[i]) for g in grids) for i in range(values.shape[1])]
    return values, labels


def compare_bootstrap_posterior(idata_posterior, idata_bootstrap, var_names=None, *, level: float = 0.95):
    """A tidy table of each coefficient's posterior and bootstrap summaries, and their sd ratio.

    Use it to check whether NUTS and the bootstrap agree: an sd ratio far from 1
    points at a prior that matters, or (pairs bootstrap) at a variance function
    the data do not follow.

    Args:
        idata_posterior: ``InferenceData`` of the posterior (e.g. :func:`to_inference_data`).
        idata_bootstrap: ``InferenceData`` of the bootstrap (:func:`bootstrap_to_inference_data`).
        var_names: variables to compare (default: every variable both posteriors have).
        level: central interval of the quantile columns (default 0.95: "2.5%", "97.5%").

    Returns:
        ``pandas.DataFrame``, two rows per scalar component (source "posterior" then
        "bootstrap"), columns ``variable``, ``coefficient`` (the coordinate label,
        "" for a scalar), ``source``, ``mean``, ``sd`` (ddof=1), the two quantiles,
        and ``sd_ratio`` = bootstrap sd / posterior sd (on both rows).

    Raises:
        ValueError: for a variable missing from either object, or coordinates that differ.

    Example:
        >>> import arviz as az, numpy as np
        >>> from numpyro_glm import compare_bootstrap_posterior
        >>> rng = np.random.default_rng(0)
        >>> post = az.from_dict(posterior={"y_coef": rng.normal(size=(2, 500, 2))})
        >>> boot = az.from_dict(posterior={"y_coef": 2 * rng.normal(size=(1, 1000, 2))})
        >>> table = compare_bootstrap_posterior(post, boot)
        >>> list(table.columns)
        ['variable', 'coefficient', 'source', 'mean', 'sd', '2.5%', '97.5%', 'sd_ratio']
        >>> bool(np.allclose(table["sd_ratio"], 2, rtol=0.15))
        True
    """
    import pandas as pd

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    post = _posterior_group(idata_posterior, "idata_posterior")
    boot = _posterior_group(idata_bootstrap, "idata_bootstrap")
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    lo_name, hi_name = f"{100 * lo_q:.3g}%", f"{100 * hi_q:.3g}%"
    rows = []
    for var in _shared_var_names(post, boot, var_names):
        post_values, post_labels = _flat_draws(post[var])
        boot_values, boot_labels = _flat_draws(boot[var])
        if post_labels != boot_labels:
            raise ValueError(f"{var!r} has coordinates {post_labels} in the posterior but {boot_labels} in the "
                             "bootstrap (pass the same coef_names to both)")
        stats = {}
        for source, values in (("posterior", post_values), ("bootstrap", boot_values)):
            stats[source] = (values.mean(0), values.std(0, ddof=1), *np.quantile(values, [lo_q, hi_q], axis=0))
        ratio = stats["bootstrap"][1] / stats["posterior"][1]
        for j, label in enumerate(post_labels):
            for source in ("posterior", "bootstrap"):
                mean, sd, lo, hi = (s[j] for s in stats[source])
                rows.append({"variable": var, "coefficient": label, "source": source, "mean": mean, "sd": sd,
                             lo_name: lo, hi_name: hi, "sd_ratio": ratio[j]})
    return pd.DataFrame(rows, columns=["variable", "coefficient", "source", "mean", "sd", lo_name, hi_name,
                                       "sd_ratio"])


# --------------------------------------------------------------------------- plot


def plot_bootstrap_vs_posterior(idata_posterior, idata_bootstrap, var_names=None, path=None):
    """A forest plot of the posterior and the bootstrap side by side, and their overlaid densities.

    Left: ``az.plot_forest`` of both (94% HDI and quartiles, one row per
    coefficient and source). Right: ``az.plot_density`` of each component, the two
    sources overlaid. Drawn on a matplotlib ``Figure`` that is not registered with
    pyplot, so it works headless (any backend, Agg included) and leaks no open figures.

    Args:
        idata_posterior: ``InferenceData`` of the posterior.
        idata_bootstrap: ``InferenceData`` of the bootstrap (:func:`bootstrap_to_inference_data`).
        var_names: variables to show (default: every variable both posteriors have).
        path: where to save the figure (any format matplotlib knows from the suffix), or None.

    Returns:
        ``matplotlib.figure.Figure``.

    Example:
        >>> import arviz as az, numpy as np
        >>> from numpyro_glm import plot_bootstrap_vs_posterior
        >>> rng = np.random.default_rng(0)
        >>> post = az.from_dict(posterior={"y_coef": rng.normal(size=(2, 200, 2))})
        >>> boot = az.from_dict(posterior={"y_coef": rng.normal(size=(1, 300, 2))})
        >>> fig = plot_bootstrap_vs_posterior(post, boot)
        >>> type(fig).__name__
        'Figure'
    """
    import arviz as az
    from matplotlib.figure import Figure

    post = _posterior_group(idata_posterior, "idata_posterior")
    boot = _posterior_group(idata_bootstrap, "idata_bootstrap")
    names = _shared_var_names(post, boot, var_names)
    n_panels = sum(_flat_draws(post[v].isel(chain=slice(0, 1), draw=slice(0, 1)))[0].shape[1] for v in names)
    n_cols = min(3, n_panels)
    n_rows = math.ceil(n_panels / n_cols)

    fig = Figure(figsize=(4.5 + 3.2 * n_cols, max(3.0, 2.4 * n_rows)), layout="constrained")
    outer = fig.add_gridspec(1, 2, width_ratios=[1.3, n_cols])
    forest_ax = fig.add_subplot(outer[0])
    grid = outer[1].subgridspec(n_rows, n_cols)
    density_axes = np.array([fig.add_subplot(grid[i // n_cols, i % n_cols]) for i in range(n_rows * n_cols)])
    for ax in density_axes[n_panels:]:
        ax.set_visible(False)

    data = [idata_posterior, idata_bootstrap]
    labels = ["posterior", "bootstrap"]
    az.plot_forest(data, model_names=labels, var_names=names, combined=True, ax=forest_ax, show=False)
    forest_ax.set_title("posterior vs bootstrap")
    az.plot_density(data, data_labels=labels, var_names=names, ax=density_axes[:n_panels], shade=0.1,
                    hdi_prob=0.95, show=False)
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
