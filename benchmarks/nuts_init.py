"""MLE-initialised NUTS against NumPyro's default NUTS: time to a converged posterior.

    python benchmarks/nuts_init.py [--quick] [--cases logistic,poisson,negbin]

Three posteriors, each sampled with 4 chains (one process, float64, chains run one
after another as on a machine with fewer devices than chains):

* ``logistic``: Bernoulli (logit), n = 10,000, p = 20 (intercept + 19 correlated
  standard normals);
* ``poisson``: Poisson (log), n = 50,000, p = 20, the 19 predictors correlated
  (ρ = 0.5) and on scales from 0.1 to 100, not centred (what raw data looks like);
* ``negbin``: NegativeBinomial with α estimated and a log-exposure offset,
  n = 5,000, p = 10.

Each is the model ``numpyro_glm.glm("y", X, y, family=...)`` with the default priors,
sampled two ways:

* **default**: ``MCMC(NUTS(model))``: NumPyro's defaults (``init_to_uniform``,
  diagonal mass matrix adapted during warmup), 1,000 warmup, 1,000 draws per chain;
* **mle**: ``numpyro_glm.nuts(model, ...)``: chains started at jittered MLEs, dense
  Fisher mass matrix; warmup from a ladder (25, 50, 100, 200, 400, 1000) and the
  shortest one that gives a converged posterior is reported.

A posterior is **converged** when every coordinate of every site has rank-normalised
split R-hat < 1.01 and bulk ESS ≥ 400 (ArviZ). For each run, the draws are checked
after the first k per chain, k = 100, 150, 200, 300, 400, 600, 800, 1000, and the
smallest converged k is kept: **wall to converged** = MLE fit (mle arm) + warmup +
the sampling time of those k draws (the sampling time pro rata of leapfrog steps).
Compile time (JAX tracing + XLA compilation, from ``jax.monitoring`` events) is
excluded from the walls and reported on its own. **Leapfrog steps** are summed over
the 4 chains, warmup included; **ESS/s** is the smallest bulk ESS over the
coordinates divided by the wall to converged.

The **reference** posterior is a long run (``numpyro_glm.nuts``, 1,000 warmup,
4 × 5,000 draws, another seed); a converged arm must have every posterior mean
within 0.1 reference posterior SD.

Writes ``benchmarks/results/nuts_init.md`` (``nuts_init_quick.md`` with ``--quick``,
which shrinks the data 5× and the ladders, for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import sys
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import arviz as az  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

# Measure the checkout this script lives in, not an installed (possibly older) copy.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import numpyro_glm as nglm  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"
NUM_CHAINS = 4
NUM_SAMPLES = 1000
DEFAULT_WARMUP = 1000
MLE_WARMUP_LADDER = (25, 50, 100, 200, 400, 1000)
PREFIXES = (100, 150, 200, 300, 400, 600, 800, 1000)
RHAT_MAX = 1.01
ESS_MIN = 400
MEAN_TOL_SD = 0.1
REFERENCE_WARMUP, REFERENCE_SAMPLES = 1000, 5000
EXTRA_FIELDS = ("num_steps", "diverging")

# --------------------------------------------------------------------------- compile time

_COMPILE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
}
_compile_seconds = [0.0]


def _on_event(event: str, duration: float, **_) -> None:
    if event in _COMPILE_EVENTS:
        _compile_seconds[0] += duration


jax.monitoring.register_event_duration_secs_listener(_on_event)


class Clock:
    """Wall time of a block, and the part of it JAX spent tracing and compiling."""

    def __enter__(self):
        self._compile0 = _compile_seconds[0]
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._t0
        self.compile = _compile_seconds[0] - self._compile0
        self.run = self.wall - self.compile


# --------------------------------------------------------------------------- the posteriors


def logistic_model(X, y=None):
    nglm.glm("y", X, y, family=nglm.Bernoulli())


def poisson_model(X, y=None):
    nglm.glm("y", X, y, family=nglm.Poisson())


def negbin_model(X, offset, y=None):
    nglm.glm("y", X, y, family=nglm.NegativeBinomial(), offset=offset)


def _correlated_normals(rng, n: int, k: int, rho: float) -> np.ndarray:
    """n rows of k standard normals with correlation rho between every pair."""
    common = rng.normal(size=(n, 1))
    return np.sqrt(rho) * common + np.sqrt(1 - rho) * rng.normal(size=(n, k))


def make_logistic(rng, shrink: int):
    n, p = 10_000 // shrink, 20
    Z = _correlated_normals(rng, n, p - 1, 0.3)
    X = np.column_stack([np.ones(n), Z])
    beta = np.concatenate([[-0.5], rng.normal(0, 0.3, p - 1)])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-X @ beta))).astype(float)
    return dict(model=logistic_model, args=(X,), kwargs=dict(y=y),
                label=f"logistic, n = {n:,}, p = {p}")


def make_poisson(rng, shrink: int):
    n, p = 50_000 // shrink, 20
    scales = np.logspace(-1, 2, p - 1)
    Z = _correlated_normals(rng, n, p - 1, 0.5)
    X = np.column_stack([np.ones(n), scales * (1.0 + Z)])  # means = scales: not centred
    slopes = rng.choice([-1.0, 1.0], p - 1) * rng.uniform(0.05, 0.15, p - 1) / scales
    beta = np.concatenate([[1.0 - slopes @ scales], slopes])  # mean log-rate ~ 1
    y = rng.poisson(np.exp(X @ beta)).astype(float)
    return dict(model=poisson_model, args=(X,), kwargs=dict(y=y),
                label=f"Poisson, n = {n:,}, p = {p}, predictors on scales 0.1–100, ρ = 0.5")


def make_negbin(rng, shrink: int):
    n, p, alpha = 5_000 // shrink, 10, 0.5
    Z = _correlated_normals(rng, n, p - 1, 0.3)
    X = np.column_stack([np.ones(n), Z])
    offset = np.log(rng.uniform(0.5, 5.0, n))
    beta = np.concatenate([[0.5], rng.normal(0, 0.25, p - 1)])
    mu = np.exp(X @ beta + offset)
    y = rng.negative_binomial(1 / alpha, 1 / (1 + alpha * mu)).astype(float)
    return dict(model=negbin_model, args=(X, offset), kwargs=dict(y=y),
                label=f"NegativeBinomial (α estimated, true 0.5) with offset, n = {n:,}, p = {p}")


CASES = {"logistic": make_logistic, "poisson": make_poisson, "negbin": make_negbin}

# --------------------------------------------------------------------------- running chains


def _grouped(samples: dict) -> dict:
    return {k: np.asarray(v) for k, v in samples.items()}


def _diagnostics(samples: dict, k: int) -> tuple[float, float]:
    """Largest R-hat and smallest bulk ESS over all coordinates, first k draws per chain."""
    data = az.convert_to_dataset({name: v[:, :k] for name, v in samples.items()})
    rhat = max(float(np.max(az.rhat(data)[name].values)) for name in samples)
    ess = min(float(np.min(az.ess(data, method="bulk")[name].values)) for name in samples)
    return rhat, ess


def run_chains(mcmc: MCMC, key, case: dict, init_params=None, setup_seconds: float = 0.0) -> dict:
    """Warm up, then sample; time each phase and record the leapfrog steps of both."""
    key_warmup, key_sample = jax.random.split(key)
    with Clock() as warmup_clock:
        mcmc.warmup(key_warmup, *case["args"], extra_fields=EXTRA_FIELDS, collect_warmup=True,
                    init_params=init_params, **case["kwargs"])
        jax.block_until_ready(mcmc.post_warmup_state)
    warm = mcmc.get_extra_fields(group_by_chain=True)
    with Clock() as sample_clock:
        mcmc.run(key_sample, *case["args"], extra_fields=EXTRA_FIELDS, **case["kwargs"])
        samples = _grouped(mcmc.get_samples(group_by_chain=True))
    fields = mcmc.get_extra_fields(group_by_chain=True)
    steps = np.asarray(fields["num_steps"], dtype=np.int64)  # (chains, draws)
    return dict(
        samples=samples,
        setup=setup_seconds,
        warmup_run=warmup_clock.run,
        sample_run=sample_clock.run,
        compile=warmup_clock.compile + sample_clock.compile,
        warmup_steps=int(np.sum(warm["num_steps"])),
        warmup_divergences=int(np.sum(warm["diverging"])),
        steps=steps,
        diverging=np.asarray(fields["diverging"]),
    )


def converged_at(run: dict) -> dict:
    """The first prefix of the draws that is converged, with its cost; else the full run's state."""
    steps_total = max(int(run["steps"].sum()), 1)
    result = None
    for k in PREFIXES:
        if k > run["steps"].shape[1]:
            break
        rhat, ess = _diagnostics(run["samples"], k)
        fraction = run["steps"][:, :k].sum() / steps_total
        wall = run["setup"] + run["warmup_run"] + fraction * run["sample_run"]
        result = dict(k=k, rhat=rhat, ess=ess, wall=wall, converged=rhat < RHAT_MAX and ess >= ESS_MIN,
                      leapfrog=run["warmup_steps"] + int(run["steps"][:, :k].sum()),
                      divergences=run["warmup_divergences"] + int(run["diverging"][:, :k].sum()))
        if result["converged"]:
            break
    return result


def default_arm(case: dict, key, warmup: int) -> dict:
    mcmc = MCMC(NUTS(case["model"]), num_warmup=warmup, num_samples=NUM_SAMPLES, num_chains=NUM_CHAINS,
                chain_method="sequential", progress_bar=False)
    run = run_chains(mcmc, key, case)
    return dict(run=run, warmup=warmup, **converged_at(run))


def mle_arm(case: dict, key, warmup: int, num_samples: int = NUM_SAMPLES) -> dict:
    key_init, key_run = jax.random.split(key)
    with Clock() as setup_clock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mcmc = nglm.nuts(case["model"], *case["args"], num_warmup=warmup, num_samples=num_samples,
                         num_chains=NUM_CHAINS, key=key_init, run=False, **case["kwargs"])
    run = run_chains(mcmc, key_run, case, init_params=mcmc.mle_init.init_params, setup_seconds=setup_clock.run)
    run["compile"] += setup_clock.compile
    return dict(run=run, warmup=warmup, **converged_at(run))


def mean_error_in_sd(samples: dict, reference: dict) -> float:
    """Largest |mean − reference mean| / reference SD over all coordinates."""
    worst = 0.0
    for name, ref in reference.items():
        ref = ref.reshape(-1, *ref.shape[2:])
        draws = samples[name].reshape(-1, *samples[name].shape[2:])
        worst = max(worst, float(np.max(np.abs(draws.mean(0) - ref.mean(0)) / ref.std(0))))
    return worst


# --------------------------------------------------------------------------- report


def _fmt_time(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def _row(arm: str, r: dict, mean_error: float | None) -> str:
    run = r["run"]
    status = "yes" if r["converged"] else f"**no** (R-hat {r['rhat']:.3g}, ESS {r['ess']:.0f})"
    draws = f"{r['k']}" if r["converged"] else f"{run['steps'].shape[1]}"
    mean = "–" if mean_error is None else f"{mean_error:.3f}"
    return (f"| {arm} | {r['warmup']} | {draws} | {status} | {_fmt_time(r['wall'])} | {_fmt_time(run['compile'])} "
            f"| {r['leapfrog']:,} | {r['ess'] / r['wall']:.0f} | {r['divergences']} | {r['rhat']:.3f} "
            f"| {r['ess']:.0f} | {mean} |")


HEADER = ("| arm | warmup | draws/chain | converged | wall to converged | compile | leapfrog steps "
          "| ESS/s | divergences (warmup incl.) | max R-hat | min bulk ESS | max \\|Δmean\\|/sd |\n"
          "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")


def run_case(case: dict, *, quick: bool, seed: int) -> tuple[str, dict]:
    print(f"\n== {case['label']}", flush=True)
    key = jax.random.PRNGKey(seed)
    k_ref, k_default, k_mle = jax.random.split(key, 3)

    ref_warmup, ref_samples = (200, 1000) if quick else (REFERENCE_WARMUP, REFERENCE_SAMPLES)
    reference = mle_arm(case, k_ref, ref_warmup, num_samples=ref_samples)["run"]["samples"]
    print("   reference done", flush=True)

    default = default_arm(case, k_default, 200 if quick else DEFAULT_WARMUP)
    print(f"   default: converged={default['converged']} wall={default['wall']:.1f}s", flush=True)

    ladder = (25, 50, 100) if quick else MLE_WARMUP_LADDER
    mle_runs = []
    for warmup in ladder:
        r = mle_arm(case, k_mle, warmup)
        mle_runs.append(r)
        print(f"   mle warmup={warmup}: converged={r['converged']} k={r['k']} wall={r['wall']:.2f}s "
              f"R-hat={r['rhat']:.3f} ESS={r['ess']:.0f}", flush=True)
        if r["converged"]:
            break
    mle = next((r for r in mle_runs if r["converged"]), mle_runs[-1])

    errors = {arm: mean_error_in_sd(r["run"]["samples"], reference) if r["converged"] else None
              for arm, r in (("default", default), ("mle", mle))}
    lines = [f"### {case['label']}", "", HEADER,
             _row("default NUTS (init_to_uniform, diagonal adapted)", default, errors["default"]),
             _row("numpyro_glm.nuts (MLE start, Fisher mass matrix)", mle, errors["mle"])]
    tried = ", ".join(f"{r['warmup']} ({'converged' if r['converged'] else 'not converged'})" for r in mle_runs)
    lines += ["", f"MLE-arm warmups tried, shortest first: {tried}."]
    if default["converged"] and mle["converged"]:
        lines.append(f"Wall to converged, default / mle: **{default['wall'] / mle['wall']:.1f}×**; "
                     f"leapfrog steps, default / mle: {default['leapfrog'] / mle['leapfrog']:.1f}×.")
    elif mle["converged"]:
        lines.append(f"Default NUTS did not converge (max R-hat {default['rhat']:.3g} after {DEFAULT_WARMUP if not quick else 200} "
                     f"warmup and {NUM_SAMPLES} draws per chain, {default['divergences']} divergences): no finite "
                     "speed-up; its wall is only what that run cost.")
    return "\n".join(lines), dict(default=default, mle=mle, errors=errors)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5× less data, short ladders: a smoke run")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of " + ", ".join(CASES))
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(argv)
    names = [c.strip() for c in options.cases.split(",") if c.strip()]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {sorted(CASES)}")

    rng = np.random.default_rng(options.seed)
    shrink = 5 if options.quick else 1
    sections = []
    load_before = os.getloadavg()
    started = time.perf_counter()
    for name in names:
        case = CASES[name](rng, shrink)
        text, _ = run_case(case, quick=options.quick, seed=options.seed)
        sections.append(text)
        print(text, flush=True)
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()

    header = [
        "# MLE-initialised NUTS vs NumPyro's default NUTS" + (" (quick smoke run)" if options.quick else ""),
        "",
        f"`python benchmarks/nuts_init.py{' --quick' if options.quick else ''}` — "
        f"{NUM_CHAINS} chains run sequentially, float64; converged = every coordinate R-hat < {RHAT_MAX} and "
        f"bulk ESS ≥ {ESS_MIN}; walls exclude compile time (shown apart) and include the MLE fit for the mle "
        f"arm; same posterior = every mean within {MEAN_TOL_SD} SD of a long reference run.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"jax {jax.__version__}, numpyro {numpyro.__version__}, arviz {az.__version__}; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
        f"total {elapsed / 60:.1f} min.",
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("nuts_init_quick.md" if options.quick else "nuts_init.md")
    out.write_text("\n".join(header) + "\n" + "\n\n".join(sections) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
