"""numpyro_glm: generalized linear models for NumPyro.

Exponential-family families and a link registry that plug straight into NumPyro
models, plus the distributions NumPyro lacks (inverse Gaussian, Tweedie); a jitted
IRLS fitter (``fit``); GLM model blocks with default priors (``glm``); NUTS
started from the MLE with the Fisher mass matrix (``nuts``, ``mle_init``); chunked
posterior predictive checks (``posterior_predictive``); vmapped bootstraps
(``bootstrap``); and ArviZ conversions and bootstrap-versus-posterior comparisons
(``to_inference_data``, ``compare_bootstrap_posterior``).

Example:
    >>> import jax.numpy as jnp
    >>> import numpyro_glm as glm
    >>> family = glm.Poisson()
    >>> float(family.link.inverse(jnp.log(3.0)))
    3.0
"""

from . import datasets, distributions, families, links
from . import priors
from .fit import fit
from .streaming import fit_streaming
from .init import MLEInit, init_to_mle, mass_matrix_from_fit, mle_init
from .irls import Status
from .model import GLMBlock, arviz_labels, coef_names, glm, glm_blocks
from .nuts import nuts
from .predictive import PosteriorPredictive, PPCStatistic, log_likelihood, posterior_predictive, quantile_residuals
from .bootstrap import BootstrapResult, bootstrap
from .to_arviz import (
    bootstrap_to_inference_data,
    compare_bootstrap_posterior,
    plot_bootstrap_vs_posterior,
    to_inference_data,
)
from .priors import Priors, default_priors, prior_summary
from .results import GLMFit
from .sharding import ShardedRows, shard_rows
from .families import (
    Bernoulli,
    Binomial,
    Family,
    Gamma,
    Gaussian,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
    Tweedie,
)

__version__ = "0.1.0"

__all__ = [
    "fit",
    "fit_streaming",
    "GLMFit",
    "shard_rows",
    "ShardedRows",
    "Status",
    "links",
    "families",
    "distributions",
    "Family",
    "Gaussian",
    "Bernoulli",
    "Binomial",
    "Poisson",
    "Gamma",
    "InverseGaussian",
    "NegativeBinomial",
    "Tweedie",
    "glm",
    "GLMBlock",
    "glm_blocks",
    "coef_names",
    "arviz_labels",
    "priors",
    "Priors",
    "default_priors",
    "prior_summary",
    "init_to_mle",
    "mle_init",
    "MLEInit",
    "mass_matrix_from_fit",
    "nuts",
    "posterior_predictive",
    "PosteriorPredictive",
    "PPCStatistic",
    "log_likelihood",
    "quantile_residuals",
    "bootstrap",
    "BootstrapResult",
    "to_inference_data",
    "bootstrap_to_inference_data",
    "compare_bootstrap_posterior",
    "plot_bootstrap_vs_posterior",
]
