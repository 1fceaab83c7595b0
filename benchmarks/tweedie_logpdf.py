"""Tweedie log-density: accuracy against a 50-digit series and speed against statsmodels.

    python benchmarks/tweedie_logpdf.py [--quick]

For each power p it draws n compound Poisson–gamma responses, evaluates the
log-density with numpyro_glm (jitted, warm) and with statsmodels' Tweedie
``loglike_obs`` in the same process, reports the median time of several runs, the
fraction of non-finite values, and the largest relative error of each against an
mpmath evaluation of the Dunn–Smyth series on a subsample (including large y/φ).
Writes ``benchmarks/results/tweedie_logpdf.md``.
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import statistics
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import mpmath  # noqa: E402
import numpy as np  # noqa: E402
import statsmodels.genmod.families as smf  # noqa: E402

import sys  # noqa: E402

# Measure the checkout this script lives in, not an installed (possibly older) copy.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from numpyro_glm.distributions import Tweedie  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"


def mp_log_density(y: float, mu: float, phi: float, p: float) -> float:
    """log f(y) for y > 0 by brute-force summation of the series in 50 digits."""
    with mpmath.workdps(50):
        y, mu, phi, p = (mpmath.mpf(v) for v in (y, mu, phi, p))
        alpha = (2 - p) / (1 - p)
        log_z = -alpha * mpmath.log(y) + alpha * mpmath.log(p - 1) - (1 - alpha) * mpmath.log(phi) - mpmath.log(2 - p)
        j_max = float(y ** (2 - p) / (phi * (2 - p)))
        width = int(20 * np.sqrt(j_max / (1 - float(alpha))) + 50)
        js = range(max(1, int(j_max) - width), int(j_max) + width)
        log_w = mpmath.log(mpmath.fsum(mpmath.exp(j * log_z - mpmath.loggamma(1 + j) - mpmath.loggamma(-j * alpha)) for j in js))
        theta = mu ** (1 - p) / (1 - p)
        kappa = mu ** (2 - p) / (2 - p)
        return float(log_w - mpmath.log(y) + (y * theta - kappa) / phi)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small n, few repeats")
    args = parser.parse_args()
    n = 20_000 if args.quick else 200_000
    repeats = 3 if args.quick else 7
    n_oracle = 20 if args.quick else 60
    powers = [1.01, 1.1, 1.5, 1.9, 1.99]
    rng = np.random.default_rng(0)

    rows = []
    for p in powers:
        mu = np.exp(rng.normal(0.0, 1.0, n))
        phi = 0.5
        y = np.array(Tweedie(jnp.asarray(mu), phi, p).sample(jax.random.PRNGKey(1)))
        # Far tails: large y/φ where naive series fail.
        y[:5] = [50.0, 200.0, 1000.0, 5000.0, 1e4]

        ours = jax.jit(lambda y, mu, p=p: Tweedie(mu, phi, p).log_prob(y))
        ours(y, mu).block_until_ready()
        t_ours = median_time(lambda: ours(y, mu).block_until_ready(), repeats)
        ll_ours = np.asarray(ours(y, mu))

        sm = smf.Tweedie(var_power=p, eql=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_sm = median_time(lambda: sm.loglike_obs(y, mu, scale=phi), repeats)
            ll_sm = sm.loglike_obs(y, mu, scale=phi)

        idx = np.concatenate([np.arange(5), rng.choice(np.flatnonzero(y[5:] > 0) + 5, n_oracle, replace=False)])
        exact = np.array([mp_log_density(y[i], mu[i], phi, p) for i in idx])

        def max_rel(values):
            v = values[idx]
            with np.errstate(invalid="ignore"):
                err = np.abs(v - exact) / np.abs(exact)
            return float(np.nanmax(np.where(np.isfinite(v), err, np.inf)))

        rows.append(
            {
                "p": p,
                "ours_s": t_ours,
                "sm_s": t_sm,
                "ratio": t_sm / t_ours,
                "ours_err": max_rel(ll_ours),
                "sm_err": max_rel(ll_sm),
                "ours_nonfinite": float(np.mean(~np.isfinite(ll_ours))),
                "sm_nonfinite": float(np.mean(~np.isfinite(ll_sm))),
            }
        )
        print(rows[-1])

    RESULTS.mkdir(exist_ok=True)
    lines = [
        "# Tweedie log-density: numpyro_glm vs statsmodels",
        "",
        f"n = {n:,} responses per power, φ = 0.5, warm jitted numpyro_glm, median of {repeats} runs, float64.",
        f"Max relative error against a 50-digit series on {n_oracle + 5} responses (incl. y = 50 … 1e4).",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"jax {jax.__version__}, {jax.devices()[0].platform}.",
        "",
        "| p | numpyro_glm (s) | statsmodels (s) | statsmodels / numpyro_glm | max rel. error numpyro_glm | max rel. error statsmodels | non-finite numpyro_glm | non-finite statsmodels |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['p']} | {r['ours_s']:.4f} | {r['sm_s']:.4f} | {r['ratio']:.1f}× | {r['ours_err']:.1e} | "
            f"{r['sm_err']:.1e} | {r['ours_nonfinite']:.2%} | {r['sm_nonfinite']:.2%} |"
        )
    out = RESULTS / "tweedie_logpdf.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
