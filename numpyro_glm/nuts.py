r"""``nuts``: NUTS started from the MLE with the Fisher mass matrix, in one call.

The one-call path of :mod:`numpyro_glm.init`: fit the model's glm blocks, start the
chains from jittered MLEs, give NUTS the inverse mass matrix from the fits' covariance,
run, and hand back NumPyro's own :class:`~numpyro.infer.MCMC`, so everything after is
plain NumPyro (``print_summary()``, ``get_samples()``, ``az.from_numpyro``).
"""

from __future__ import annotations

import jax
from numpyro.infer import MCMC, NUTS
from numpyro.infer.initialization import init_to_median

from .init import init_to_mle, mle_init

__all__ = ["nuts"]


def _mapped_chains(run_one_chain):
    """NumPyro's chain_method protocol: run ``run_one_chain`` over the leading (chain)
    axis of its argument in one ``lax.map``, so the per-chain initialisation and the
    sampler are traced and compiled once for all chains."""
    return lambda per_chain: jax.lax.map(run_one_chain, per_chain)


def nuts(
    model,
    *model_args,
    num_warmup: int = 200,
    num_samples: int = 1000,
    num_chains: int = 1,
    key=None,
    adapt_mass_matrix: bool | None = None,
    dense_mass: bool = True,
    jitter: float = 1.0,
    init_strategy=init_to_median,
    include_prior: bool = True,
    chain_method: str | None = None,
    progress_bar: bool = False,
    extra_fields: tuple = (),
    kernel_kwargs: dict | None = None,
    run: bool = True,
    **model_kwargs,
) -> MCMC:
    """Run NUTS on a model with glm blocks, from the MLE and with the Fisher mass matrix.

    Use it as the default way to sample a model built from :func:`~numpyro_glm.glm`
    blocks: a few hundred warmup steps are usually enough, where NumPyro's defaults
    (uniform start in [−2, 2], identity metric) can need thousands, or never converge
    on unstandardised predictors.

    Args:
        model: a NumPyro model with at least one glm block.
        *model_args, **model_kwargs: its arguments, with the observed data.
        num_warmup, num_samples, num_chains: as :class:`numpyro.infer.MCMC`.
        key: ``jax.random`` key (default ``PRNGKey(0)``).
        adapt_mass_matrix: keep adapting the mass matrix during warmup, starting
            from the Fisher one (True), or keep the Fisher matrix throughout (False:
            the warmup then only tunes the step size). The default (None) adapts
            only when some latent site is not in ``MLEInit.mle_sites`` (random
            effects, user sites, a separated or boundary fit): where the MLE covers
            every site the Fisher matrix is already the posterior's covariance to
            O(1/n), and NumPyro's adaptation, which shrinks its estimate towards
            10⁻³·I, spoils it for coefficients of large-scale predictors (a Poisson
            GLM with p = 20, predictors on scales 0.1 to 100: 7 leapfrog steps per
            draw with the Fisher matrix kept, 380 with adaptation); in a
            hierarchical model the random effects need it.
        dense_mass: a dense mass matrix over all latent sites (True), or its
            diagonal (False).
        jitter: spread of the chains' starts in posterior standard deviations (see
            :func:`~numpyro_glm.mle_init`).
        init_strategy: for sites the MLE does not cover (default ``init_to_median``).
        include_prior: add the coefficient prior's curvature to the mass matrix.
        chain_method: "parallel" (default when there are as many devices as
            chains), "mapped" (the default otherwise), NumPyro's "sequential" or
            "vectorized", or a callable as :class:`numpyro.infer.MCMC` accepts.
            "mapped" runs the chains one after another inside one ``lax.map``: the
            same draws as "sequential", but traced and compiled once, where
            "sequential" initialises each chain eagerly and compiles its sampler once
            per chain (2 chains of a small model: 5 s instead of 14 s).
        progress_bar: show NumPyro's progress bar (NumPyro shows none for a mapped
            run, so with ``progress_bar=True`` the default is "sequential").
        extra_fields: passed to ``MCMC.run`` (e.g. ``("num_steps", "diverging")``).
        kernel_kwargs: more arguments of :class:`numpyro.infer.NUTS`
            (``target_accept_prob``, ``max_tree_depth``, ...).
        run: run the chains (default); with False the MCMC is returned unrun: call
            ``mcmc.run(key, *args, init_params=mcmc.mle_init.init_params)``.

    Returns:
        The :class:`numpyro.infer.MCMC`, already run, with one attribute added:
        ``mle_init``, the :class:`~numpyro_glm.init.MLEInit` it started from (the fits,
        the mass matrix, the coefficient names).

    Example:
        >>> import numpy as np
        >>> import numpyro_glm as glm
        >>> rng = np.random.default_rng(0)
        >>> X = np.column_stack([np.ones(200), rng.normal(size=200)])
        >>> y = rng.poisson(np.exp(X @ [0.5, 0.3])).astype(float)
        >>> def model(X, y=None):
        ...     glm.glm("y", X, y, family=glm.Poisson())
        >>> mcmc = glm.nuts(model, X, y, num_warmup=100, num_samples=200)
        >>> mcmc.get_samples()["y_coef"].shape
        (200, 2)
    """
    key = jax.random.PRNGKey(0) if key is None else key
    key_init, key_run = jax.random.split(key)
    init = mle_init(model, *model_args, num_chains=num_chains, key=key_init, jitter=jitter,
                    init_strategy=init_strategy, include_prior=include_prior, **model_kwargs)
    if adapt_mass_matrix is None:
        adapt_mass_matrix = set(init.mle_sites) != set(init.values)
    if chain_method is None:
        if 1 < num_chains <= jax.local_device_count():
            chain_method = "parallel"
        else:
            chain_method = "sequential" if progress_bar else "mapped"
    if chain_method == "mapped":
        chain_method = _mapped_chains
    kernel = NUTS(
        model,
        # A copy: NumPyro writes its working matrices into the dict it is given.
        inverse_mass_matrix=dict(init.inverse_mass_matrix),
        dense_mass=bool(dense_mass),
        adapt_mass_matrix=adapt_mass_matrix,
        init_strategy=init_to_mle(values=init.values),  # every site given: no refits
        **(kernel_kwargs or {}),
    )
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                chain_method=chain_method, progress_bar=progress_bar)
    mcmc.mle_init = init
    if run:
        mcmc.run(key_run, *model_args, init_params=init.init_params, extra_fields=extra_fields, **model_kwargs)
    return mcmc
