"""Response samplers and the glm block's linear predictor: numpyro_glm against NumPyro / JAX.

    python benchmarks/samplers.py [--quick]

What a posterior predictive check (or a parametric bootstrap) spends its time on,
measured side by side in one process, float32 (JAX's default), warm, median of
several runs; each call draws ``draws`` replicates of n = 100,000 values one at a time
in a ``lax.map`` (the shape ``posterior_predictive`` uses on CPU):

* Poisson at count-data rates (log-normal around e^0.5): ``numpyro.distributions.Poisson``
  (``jax.random.poisson``) against ``numpyro_glm.distributions.poisson_sample``;
* Poisson at rate 1e5: the same two, with a chi-square test of 1,000,000 draws
  against scipy's pmf (bins of 8 counts between the 1e-4 quantiles) and the
  variance over the rate: ``jax.random.poisson`` computes in float32 and is off there;
* Gamma(2): ``jax.random.gamma`` against ``gamma_sample``, with a Kolmogorov–Smirnov
  test of 1,000,000 draws against scipy;
* negative binomial (mean as above, r = 2): NumPyro's ``NegativeBinomial2`` against
  numpyro_glm's (gamma_sample, then poisson_sample);
* the glm block's log density, value and gradient, n = 10,000, Poisson, p = 5, 12 and
  24: ``X @ β`` against ``linear_predictor``'s β @ Xᵀ (both through the same model,
  the module's column limit switched).

Writes ``benchmarks/results/samplers.md`` (``samplers_quick.md`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import scipy.stats
from jax import lax, random
from numpyro.infer.util import initialize_model

# Measure the checkout this script lives in, not an installed (possibly older) copy.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import numpyro_glm as glm  # noqa: E402
import numpyro_glm.model as glm_model  # noqa: E402
from numpyro_glm import distributions as ours  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"
N = 100_000


def median_seconds(fn, repeats: int) -> float:
    fn()  # compile and warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_value_ns(sample, parameter, draws: int, repeats: int) -> float:
    """ns per value of ``sample(key, parameter)``, one replicate at a time in a lax.map."""
    mapped = jax.jit(lambda keys, p: lax.map(lambda k: jnp.sum(sample(k, p)), keys))
    keys = random.split(random.PRNGKey(0), draws)
    return median_seconds(lambda: mapped(keys, parameter), repeats) / (draws * N) * 1e9


def poisson_chi_square(draws: np.ndarray, rate: float) -> tuple[float, float]:
    lo, hi = scipy.stats.poisson.ppf([1e-4, 1 - 1e-4], rate).astype(np.int64)
    edges = np.r_[lo:hi:8, hi]
    observed = np.bincount(np.searchsorted(edges, draws, side="left"), minlength=len(edges) + 1)
    expected = len(draws) * np.diff(np.r_[0.0, scipy.stats.poisson.cdf(edges, rate), 1.0])
    return scipy.stats.chisquare(observed, expected).pvalue, float(np.var(draws) / rate)


def sampler_rows(draws: int, repeats: int) -> list[str]:
    rng = np.random.default_rng(0)
    rates = jnp.asarray(np.exp(0.5 + 0.4 * rng.normal(size=N)), jnp.float32)
    rows = []

    def row(name, theirs_label, theirs, ours_fn, parameter, check=""):
        t_theirs = per_value_ns(theirs, parameter, draws, repeats)
        t_ours = per_value_ns(ours_fn, parameter, draws, repeats)
        rows.append(f"| {name} | {theirs_label} | {t_theirs:.1f} | {t_ours:.1f} | **{t_theirs / t_ours:.1f}×** | {check} |")

    row("Poisson, rates ~ e^(0.5 + 0.4 z)", "`jax.random.poisson`",
        lambda k, r: dist.Poisson(r).sample(k), ours.poisson_sample, rates)

    big = jnp.full(N, 1e5, jnp.float32)
    million = jnp.full(1_000_000, 1e5, jnp.float32)
    p_jax, var_jax = poisson_chi_square(np.asarray(random.poisson(random.PRNGKey(13), million)), 1e5)
    p_ours, var_ours = poisson_chi_square(np.asarray(ours.poisson_sample(random.PRNGKey(13), million)), 1e5)
    row("Poisson, rate 1e5", "`jax.random.poisson`", lambda k, r: random.poisson(k, r), ours.poisson_sample, big,
        f"chi-square p: JAX {p_jax:.2g}, ours {p_ours:.2g}; variance / rate: {var_jax:.4f}, {var_ours:.4f}")

    shape = jnp.full(N, 2.0, jnp.float32)
    ks_jax = scipy.stats.kstest(np.asarray(random.gamma(random.PRNGKey(7), jnp.full(1_000_000, 2.0))),
                                scipy.stats.gamma(2.0).cdf).pvalue
    ks_ours = scipy.stats.kstest(np.asarray(ours.gamma_sample(random.PRNGKey(7), jnp.full(1_000_000, 2.0))),
                                 scipy.stats.gamma(2.0).cdf).pvalue
    row("Gamma(2)", "`jax.random.gamma`", lambda k, a: random.gamma(k, a), ours.gamma_sample, shape,
        f"KS p: JAX {ks_jax:.2g}, ours {ks_ours:.2g}")

    row("negative binomial, mean as the Poisson row, r = 2", "NumPyro's `NegativeBinomial2`",
        lambda k, m: dist.NegativeBinomial2(m, 2.0).sample(k),
        lambda k, m: ours.NegativeBinomial2(m, 2.0).sample(k), rates)
    return rows


def linear_predictor_rows(repeats: int) -> list[str]:
    rows = []
    limit = glm_model._FUSED_DOT_MAX_COLUMNS
    for p in (5, 12, 24):
        rng = np.random.default_rng(p)
        n = 10_000
        X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))]).astype(np.float32)
        y = rng.poisson(np.exp(0.5 + 0.1 * X[:, 1:].sum(1) / np.sqrt(p))).astype(np.float32)

        def model(X, y=None):
            glm.glm("y", X, y, family=glm.Poisson())

        times = {}
        for label, columns in (("X @ β", 0), ("β @ Xᵀ", limit)):
            glm_model._FUSED_DOT_MAX_COLUMNS = columns
            info = initialize_model(random.PRNGKey(0), model, model_args=(X,), model_kwargs={"y": y})
            value_and_grad = jax.value_and_grad(info.potential_fn)
            points = jax.tree.map(lambda a: a + 0.001 * jnp.arange(200.0).reshape((200,) + (1,) * a.ndim),
                                  info.param_info.z)
            batched = jax.jit(lambda zs: lax.map(
                lambda z: (lambda v, g: v + sum(jnp.sum(leaf) for leaf in jax.tree.leaves(g)))(*value_and_grad(z)),
                zs))
            times[label] = median_seconds(lambda: batched(points), repeats) / 200 * 1e6
        glm_model._FUSED_DOT_MAX_COLUMNS = limit
        used = "β @ Xᵀ" if p <= limit else "X @ β"
        rows.append(f"| p = {p} | {times['X @ β']:.1f} | {times['β @ Xᵀ']:.1f} | "
                    f"**{times['X @ β'] / times['β @ Xᵀ']:.2f}×** | {used} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 replicates and 3 runs instead of 40 and 5")
    args = parser.parse_args()
    draws, repeats = (10, 3) if args.quick else (40, 5)
    load_before = os.getloadavg()[0]
    samplers = sampler_rows(draws, repeats)
    linear = linear_predictor_rows(repeats)
    load_after = os.getloadavg()[0]
    lines = [
        "# Response samplers and the glm block's linear predictor",
        "",
        f"`python benchmarks/samplers.py{' --quick' if args.quick else ''}` — float32, one process, warm, median of "
        f"{repeats} runs; {draws} replicates of n = {N:,} values, one at a time in a `lax.map`.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"jax {jax.__version__}; load average {load_before:.1f} before, {load_after:.1f} after.",
        "",
        "## Samplers (ns per value)",
        "",
        "| distribution | NumPyro / JAX sampler | theirs | numpyro_glm | speed-up | check (1,000,000 draws) |",
        "|---|---|---:|---:|---:|---|",
        *samplers,
        "",
        "## glm block log density, value and gradient (µs per evaluation; Poisson, n = 10,000)",
        "",
        "| columns | X @ β | β @ Xᵀ | speed-up | `linear_predictor` uses |",
        "|---|---:|---:|---:|---|",
        *linear,
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("samplers_quick.md" if args.quick else "samplers.md")
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
