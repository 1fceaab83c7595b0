"""Sharded fits on 1, 2 and 4 devices: the same coefficients, and what sharding costs or buys.

    python benchmarks/scale_sharded.py [--quick]

One Poisson regression (intercept + standard normal columns, float64) is fitted with
``numpyro_glm.fit(**numpyro_glm.shard_rows(X, y), family=Poisson())`` on d = 1, 2
and 4 devices. JAX fixes its device count when it starts, so each d runs in its own
process (``XLA_FLAGS=--xla_force_host_platform_device_count=d`` on CPU; on a machine
with d real accelerators the same script shards over them). Each process generates
the same data from the same seed, fits once to compile (warm-up), then times the fit
(median of several, outputs ``block_until_ready``) and, separately, the boundary
checks ``fit`` runs before IRLS (on one device: NumPy on the host; on several: the
on-device reductions of :mod:`numpyro_glm.sharding`).

On a CPU the d "devices" are threads of the same cores (here 2), so this measures
correctness and the overhead of partitioning and all-reduces, not a speedup.

Writes ``benchmarks/results/scale_sharded.md`` (``scale_sharded_quick.md`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

RESULTS = pathlib.Path(__file__).parent / "results"
ROOT = pathlib.Path(__file__).resolve().parents[1]
DEVICE_COUNTS = (1, 2, 4)


def worker(devices: int, n: int, p: int, repeats: int) -> dict:
    """In a process with ``devices`` devices: fit, time, and report as JSON-able."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    sys.path.insert(0, str(ROOT))  # measure this checkout, not an installed copy
    import importlib

    import numpyro_glm as glm
    from numpyro_glm import sharding

    fit_module = importlib.import_module("numpyro_glm.fit")  # the module (``glm.fit`` is the function)

    assert jax.device_count() == devices, (jax.device_count(), devices)
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
    coef_true = np.concatenate([[0.3], rng.choice([-1.0, 1.0], p - 1) * rng.uniform(0.05, 0.15, p - 1)])
    y = rng.poisson(np.exp(X @ coef_true)).astype(float)

    data = glm.shard_rows(X, y)
    family = glm.Poisson()

    def run():
        result = glm.fit(**data, family=family)
        jax.block_until_ready(result)
        return result

    start = time.perf_counter()
    result = run()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)

    def checks():
        if sharding.is_distributed(data.X, data.y):
            sharding.validate_on_device(data.X, data.y, family, None, None, None, None, None)
            fit_module._aliased_columns(*sharding.design_gram_on_device(data.X, None))
        else:
            X_host = np.asarray(data.X)
            active = fit_module._validate(X_host, np.asarray(data.y), family, None, None, None, None, None)
            fit_module._check_design(X_host, active)

    checks()
    check_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        checks()
        check_times.append(time.perf_counter() - start)
    return {
        "devices": devices,
        "platform": jax.devices()[0].platform,
        "devices_holding_X": len(data.X.sharding.device_set),
        "n_padded": data.n_padded,
        "first_call": first,
        "median": statistics.median(times),
        "times": times,
        "checks_median": statistics.median(check_times),
        "n_iter": int(result.n_iter),
        "status": int(result.status),
        "coef": np.asarray(result.coef).tolist(),
        "deviance": float(result.deviance),
        "se": np.asarray(result.se).tolist(),
        "jax": jax.__version__,
    }


def _run_worker(devices: int, n: int, p: int, repeats: int) -> dict:
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
    env["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={devices}"])
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(devices), str(n), str(p), str(repeats)],
        env=env, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker with {devices} devices failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_sharded(quick: bool) -> str:
    """Fit the same data on 1, 2 and 4 devices (one process each); a Markdown section with the table."""
    import numpy as np

    n, p, repeats = (200_000, 10, 5) if quick else (2_000_000, 20, 5)
    started = time.perf_counter()
    load_before = os.getloadavg()
    rows = [_run_worker(d, n, p, repeats) for d in DEVICE_COUNTS]
    reference = rows[0]
    lines = [
        f"## Sharded fits on 1, 2, 4 devices (Poisson, n = {n:,}, p = {p})",
        "",
        f"`fit(**shard_rows(X, y), family=Poisson())`, float64, one process per device count, warm, median of "
        f"{repeats} fits (outputs `block_until_ready`). \"checks\" is the boundary validation and aliased-column test "
        f"alone: NumPy on the host for one device, on-device reductions (counts and the p × p Gram) for several. "
        f"Δ columns: the largest relative difference from the 1-device fit.",
        "",
        "| devices (holding X) | fit (s) | first call (s) | checks (s) | iterations | status | max rel. Δ coef | max rel. Δ se | "
        "rel. Δ deviance |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ref_coef, ref_se = np.asarray(reference["coef"]), np.asarray(reference["se"])
    for row in rows:
        d_coef = float(np.max(np.abs(np.asarray(row["coef"]) - ref_coef) / np.abs(ref_coef)))
        d_se = float(np.max(np.abs(np.asarray(row["se"]) - ref_se) / np.abs(ref_se)))
        d_dev = abs(row["deviance"] - reference["deviance"]) / abs(reference["deviance"])
        lines.append(
            f"| {row['devices']} {row['platform']} ({row['devices_holding_X']}) | {row['median']:.3f} | {row['first_call']:.2f} | "
            f"{row['checks_median']:.4f} | {row['n_iter']} | {row['status']} | {d_coef:.1e} | {d_se:.1e} | "
            f"{d_dev:.1e} |"
        )
    exact = all(r["coef"] == reference["coef"] for r in rows)
    identical = all(np.allclose(r["coef"], ref_coef, rtol=1e-10, atol=0) for r in rows)
    cpu = reference["platform"] == "cpu"
    lines += [
        "",
        f"Coefficients agree with the 1-device fit to rtol 1e-10 on every device count: **{identical}**"
        + (" (bit for bit here: XLA:CPU sums the rows in blocks, and the shards' partial sums happen to add up in "
           "the same order)." if exact else "."),
        "",
        ("On CPU the \"devices\" are XLA host devices sharing the same cores (os.cpu_count() = "
         f"{os.cpu_count()}), so this shows correctness and the overhead of partitioning and all-reduces, "
         "not a speedup; with real accelerators each device would hold and reduce n/d rows."
         if cpu else "Devices are real accelerators: times show the speedup of sharding rows."),
        "",
        f"Machine: {platform.platform()}, Python {platform.python_version()}, jax {reference['jax']}; "
        f"load average (1 min) {load_before[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end (shared machine: "
        f"times are noisy). Wall time {time.perf_counter() - started:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 200,000, p = 10 (else n = 2,000,000, p = 20)")
    parser.add_argument("--worker", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    text = "# Sharded fits\n\n`python benchmarks/scale_sharded.py" + (" --quick" if args.quick else "") + "`\n\n"
    text += run_sharded(args.quick)
    out = RESULTS / ("scale_sharded_quick.md" if args.quick else "scale_sharded.md")
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
