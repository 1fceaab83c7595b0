"""Bootstrap speed: ``numpyro_glm.bootstrap`` against glmax under vmap and a statsmodels loop.

    python benchmarks/bootstrap_speed.py [--quick]

1,000 pairs-bootstrap replicates of a Poisson GLM, n = 1,000, p = 10 (the data of
benchmarks/fit_speed.py section 3), float64, one process, warm (every contender is
called once before timing; JAX outputs ``block_until_ready``), median of several
runs taken round-robin (one call of each contender per round, so load changes
spread over all of them).

Contenders, all on the *same* resamples (the multinomial counts that
``numpyro_glm.bootstrap`` draws from its key, recomputed here):

* ``numpyro_glm.bootstrap(...)``: the public call, end to end (validation, the
  original fit, drawing the resamples, the vmapped refits, the failure count);
  with the default chunks (2¹⁸ / n = 262 replicates), in one chunk of 1,000, and
  with ``batch_size=250``;
* the same refits from R's ``mustart`` instead of β̂ (the jitted chunk function
  with ``init=None``): what the warm start is worth;
* glmax IRLS, ``jit(vmap(...))`` over the resampled rows (glmax takes no weights,
  so it gets ``X[idx], y[idx]``; the index arrays are built before timing);
* statsmodels GLM with ``freq_weights`` in a Python loop (fewer fits, scaled).

Agreement: the largest relative coefficient difference per replicate against glmax
and statsmodels. Target (issue 5): at most a third of glmax's vmapped time.
Writes ``benchmarks/results/bootstrap_speed.md`` (``bootstrap_speed_quick.md``
with ``--quick``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import platform
import statistics
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import glmax  # noqa: E402  (switches jax_enable_x64 on at import: harmless here)
import jax.numpy as jnp  # noqa: E402
import jaxlib  # noqa: E402
import numpy as np  # noqa: E402
import statsmodels  # noqa: E402
import statsmodels.api as sm  # noqa: E402

# Measure the checkout this script lives in, not an installed (possibly older) copy.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import numpyro_glm as nglm  # noqa: E402

boot_module = importlib.import_module("numpyro_glm.bootstrap")  # the module (``nglm.bootstrap`` is the function)

RESULTS = pathlib.Path(__file__).parent / "results"
N, P, B = 1_000, 10, 1_000
BATCH = 250
GLMAX_TOL = 1e-8  # as fit_speed.py: absolute change of the summed negative log-likelihood
KEY_SEED = 0


def block(tree):
    for leaf in jax.tree_util.tree_leaves(tree):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
    return tree


def make_data():
    """benchmarks/fit_speed.py's Poisson data at (n, p) = (1000, 10), seed 4."""
    rng = np.random.default_rng(4)
    X = np.column_stack([np.ones(N), rng.standard_normal((N, P - 1))])
    slopes = rng.choice([-1.0, 1.0], P - 1) * rng.uniform(0.05, 0.15, P - 1)
    y = rng.poisson(np.exp(X @ np.concatenate([[0.3], slopes]))).astype(float)
    return X, y


def resample_counts(key, n):
    """The multinomial counts numpyro_glm.bootstrap draws for replicates 0..B−1, (B, n)."""
    keys = boot_module._replicate_keys(key, 0, B)
    ones, rows = jnp.ones(n), jnp.arange(n, dtype=jnp.int32)
    return np.asarray(jax.vmap(lambda k: boot_module._resample_weights("pairs", k, ones, rows))(keys))


def contenders(X, y, counts, n_loop):
    family = nglm.Poisson()
    key = jax.random.key(KEY_SEED)
    Xj, yj = jax.device_put(X), jax.device_put(y)

    def ours():
        return block(nglm.bootstrap(X, y, family, n_boot=B, key=key).coef)

    def ours_one_chunk():
        return block(nglm.bootstrap(X, y, family, n_boot=B, key=key, batch_size=B).coef)

    def ours_batched():
        return block(nglm.bootstrap(X, y, family, n_boot=B, key=key, batch_size=BATCH).coef)

    # The chunk function itself, from R's mustart (init=None), all replicates at once.
    original = nglm.fit(X, y, family)
    cold_args = (key, np.uint32(0), Xj, yj, jnp.ones(N), None, None, None, jnp.arange(N, dtype=jnp.int32),
                 original.mu, original.dispersion, None, original.df_resid)

    def ours_cold():
        return block(boot_module._refit_chunk(*cold_args, chunk=B, family=family, kind="pairs", dispersion=None,
                                              tol=1e-8, max_iter=100)[0])

    index = jax.device_put(np.stack([np.repeat(np.arange(N), c.astype(int)) for c in counts]))
    glmax_fitter = glmax.IRLSFitter(tol=GLMAX_TOL)
    glmax_boot = jax.jit(jax.vmap(lambda idx: glmax.fit(glmax.Poisson(), Xj[idx], yj[idx],
                                                        fitter=glmax_fitter).result.params.beta))

    def glmax_vmap():
        return block(glmax_boot(index))

    sm_coef = []

    def statsmodels_loop():
        sm_coef.clear()
        for c in counts[:n_loop]:
            sm_coef.append(sm.GLM(y, X, family=sm.families.Poisson(), freq_weights=c).fit(tol=1e-8).params)
        return np.array(sm_coef)

    return {
        "numpyro_glm.bootstrap (default chunks)": ours,
        "numpyro_glm.bootstrap (one chunk)": ours_one_chunk,
        f"numpyro_glm.bootstrap (batch_size={BATCH})": ours_batched,
        "refits only, from R's mustart (no β̂ warm start)": ours_cold,
        "glmax IRLS, jit(vmap) over resampled rows": glmax_vmap,
        f"statsmodels loop, freq_weights ({n_loop} fits, ×{B // n_loop})": statsmodels_loop,
    }


def run(quick: bool):
    X, y = make_data()
    counts = resample_counts(jax.random.key(KEY_SEED), N)
    n_loop = 20 if quick else 100
    repeats = 3 if quick else 7
    fns = contenders(X, y, counts, n_loop)
    first, outputs = {}, {}
    for name, fn in fns.items():  # warm-up (compiles) and the outputs for the agreement check
        start = time.perf_counter()
        outputs[name] = np.asarray(fn())
        first[name] = time.perf_counter() - start
        print(f"{name}: first call {first[name]:.2f} s", flush=True)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            # Untimed pause: after statsmodels' BLAS calls, OpenBLAS threads spin for a
            # while and slow whichever contender comes next (~1.5x measured).
            time.sleep(0.2)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    sm_name = next(name for name in fns if name.startswith("statsmodels"))
    median[sm_name] *= B / n_loop
    boot = nglm.bootstrap(X, y, nglm.Poisson(), n_boot=B, key=jax.random.key(KEY_SEED))
    return {"first": first, "times": times, "median": median, "outputs": outputs, "n_loop": n_loop,
            "repeats": repeats, "n_failed": boot.n_failed, "n_iter": np.asarray(boot.n_iter), "sm_name": sm_name}


def agreement(result):
    outputs = result["outputs"]
    ours = outputs["numpyro_glm.bootstrap (default chunks)"]
    glmax_coef = outputs["glmax IRLS, jit(vmap) over resampled rows"]
    sm_coef = outputs[result["sm_name"]]

    def rel(a, b):
        return float(np.max(np.abs(a - b) / np.abs(b).max(1)[:, None]))

    return {
        "numpyro_glm vs glmax": rel(ours, glmax_coef),
        "numpyro_glm vs statsmodels": rel(ours[: len(sm_coef)], sm_coef),
        "glmax vs statsmodels": rel(glmax_coef[: len(sm_coef)], sm_coef),
        "default chunks vs batch_size": rel(ours, outputs[f"numpyro_glm.bootstrap (batch_size={BATCH})"]),
        "default chunks vs one chunk": rel(ours, outputs["numpyro_glm.bootstrap (one chunk)"]),
    }


def write_report(args, result, load_start, load_end, elapsed):
    glmax_time = result["median"]["glmax IRLS, jit(vmap) over resampled rows"]
    ours_time = result["median"]["numpyro_glm.bootstrap (default chunks)"]
    ratio = ours_time / glmax_time
    lines = [
        f"# Bootstrap speed: {B:,} pairs replicates, Poisson, n = {N:,}, p = {P}",
        "",
        f"`python benchmarks/bootstrap_speed.py{' --quick' if args.quick else ''}` — one process, float64, warm, "
        f"median of {result['repeats']} round-robin runs. Every contender refits the same {B:,} resamples (the "
        "multinomial counts numpyro_glm.bootstrap draws from its key; glmax gets them as gathered rows). "
        f"Total wall time {elapsed / 60:.1f} min.",
        "",
        f"**numpyro_glm.bootstrap / glmax vmap = {ratio:.2f}×** (target ≤ 0.33×: "
        f"{'met' if ratio <= 1 / 3 else 'NOT met'}).",
        "",
        "| method | time (s) | / glmax vmap | first call (s) | runs (s) |",
        "|---|---|---|---|---|",
    ]
    for name, median in result["median"].items():
        runs = ", ".join(f"{t:.3f}" for t in result["times"][name])
        lines.append(f"| {name} | {median:.4f} | {median / glmax_time:.2f}× | {result['first'][name]:.2f} | {runs} |")
    n_iter = result["n_iter"]
    lines += [
        "",
        "(statsmodels: the time of its fits scaled to 1,000; its runs column is unscaled.)",
        "",
        f"numpyro_glm replicates: {result['n_failed']} failed; IRLS iterations per replicate from β̂: "
        f"median {np.median(n_iter):.0f}, max {n_iter.max()} (a vmapped while-loop runs until its slowest member "
        "is done).",
        "",
        "Agreement (max over replicates of max|Δβ| / max|β|): "
        + ", ".join(f"{k} {v:.1e}" for k, v in agreement(result).items()) + ".",
        "",
        "Machine:",
        "",
        f"- Platform: {platform.platform()}, Python {platform.python_version()}",
        f"- CPUs: os.cpu_count() = {os.cpu_count()}, usable = {len(os.sched_getaffinity(0))}",
        f"- jax {jax.__version__}, jaxlib {jaxlib.__version__}, backend {jax.default_backend()}; "
        f"glmax {glmax.__version__}, statsmodels {statsmodels.__version__}, numpy {np.__version__}",
        f"- Load average (1, 5, 15 min) at start {tuple(round(v, 2) for v in load_start)}, at end "
        f"{tuple(round(v, 2) for v in load_end)} — a shared machine: compare the ratios (timed round-robin), "
        "not the absolute times.",
    ]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("bootstrap_speed_quick.md" if args.quick else "bootstrap_speed.md")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs, 20 statsmodels fits")
    args = parser.parse_args()
    start = time.perf_counter()
    load_start = os.getloadavg()
    result = run(args.quick)
    write_report(args, result, load_start, os.getloadavg(), time.perf_counter() - start)


if __name__ == "__main__":
    main()
