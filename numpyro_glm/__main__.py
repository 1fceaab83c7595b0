"""Command line: ``python -m numpyro_glm [demo | quickstart]`` (also ``numpyro-glm``).

``demo`` is the main job: a GLM workflow on real data (IRLS, NUTS from the MLE, a
posterior predictive check, the bootstrap against the posterior, Poisson against
negative binomial) written up as a report folder; see :mod:`numpyro_glm.demo` and
``docs/demo.md``. With no command, the quickstart runs (as before the demo existed).

``quickstart`` is a two-minute tour of what is here today: the link and family
registries, the Tweedie distribution NumPyro lacks, a maximum-likelihood fit with
R's summary table, and a hand-written NumPyro model whose likelihood is one
``family.distribution(...)`` call, fitted by NUTS.
"""

from __future__ import annotations

import argparse
import sys
import time


def quickstart(num_samples: int = 500, seed: int = 0) -> dict:
    """Simulate insurance-like claims, fit a Tweedie GLM by NUTS, print a summary.

    Returns the posterior means and the true values (a dict), so tests can check it.
    """
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    from . import families, links
    from .fit import fit

    print("numpyro_glm quickstart\n")
    print("links:   ", ", ".join(links.available() + ["power(p)"]))
    print("families:", ", ".join(families.available()), "\n")

    # Claims with exact zeros and skewed positive amounts: a compound Poisson–gamma
    # (Tweedie, 1 < p < 2) response with a log link.
    family = families.get("tweedie", power=1.5, link="log")
    key_x, key_y, key_mcmc = jax.random.split(jax.random.PRNGKey(seed), 3)
    n = 1000
    X = jnp.column_stack([jnp.ones(n), jax.random.normal(key_x, (n, 2))])
    true_coef = jnp.array([0.5, 0.8, -0.4])
    true_dispersion = 1.5

    @jax.jit  # one compilation: run eagerly, each of the many small operations compiles on its own
    def simulate(X, key):
        mu = family.link.inverse(X @ true_coef)
        y = family.distribution(mu, true_dispersion).sample(key)
        return y, family.log_prob(y, mu, true_dispersion).sum(), family.deviance(y, mu)

    y, loglik_true, deviance_true = simulate(X, key_y)
    print(f"simulated {n} claims: {float(jnp.mean(y == 0)):.0%} exact zeros, mean {float(y.mean()):.2f}")
    print(f"log-likelihood at the truth: {float(loglik_true):.2f}")
    print(f"deviance at the truth:       {float(deviance_true):.2f}\n")

    start = time.perf_counter()
    mle = fit(X, y, family, coef_names=["(Intercept)", "x1", "x2"])
    print(f"Maximum likelihood (IRLS), {time.perf_counter() - start:.2f} s including compilation:\n")
    print(mle.summary(), "\n")

    def model(X, y=None):
        coef = numpyro.sample("coef", dist.Normal(0.0, 2.5).expand([X.shape[1]]).to_event(1))
        dispersion = numpyro.sample("dispersion", dist.HalfNormal(5.0))
        with numpyro.plate("rows", X.shape[0]):
            numpyro.sample("y", family.distribution(family.link.inverse(X @ coef), dispersion), obs=y)

    start = time.perf_counter()
    mcmc = MCMC(NUTS(model), num_warmup=num_samples, num_samples=num_samples, progress_bar=False)
    mcmc.run(key_mcmc, X, y)
    samples = mcmc.get_samples()
    elapsed = time.perf_counter() - start

    coef_mean, coef_sd = samples["coef"].mean(0), samples["coef"].std(0)
    print(f"NUTS, {num_samples} warmup + {num_samples} draws, {elapsed:.1f} s:")
    print(f"  {'':12s}{'true':>8s}{'MLE':>9s}{'SE':>8s}{'mean':>9s}{'sd':>8s}")
    for i, name in enumerate(["(Intercept)", "x1", "x2"]):
        print(f"  {name:12s}{float(true_coef[i]):8.3f}{float(mle.coef[i]):9.3f}{float(mle.se[i]):8.3f}"
              f"{float(coef_mean[i]):9.3f}{float(coef_sd[i]):8.3f}")
    disp = samples["dispersion"]
    print(f"  {'dispersion':12s}{true_dispersion:8.3f}{float(mle.dispersion):9.3f}{'':8s}"
          f"{float(disp.mean()):9.3f}{float(disp.std()):8.3f}")
    print("\nNext: the same model as one glm(...) block, started from this MLE by glm.nuts: "
          "docs/bayesian.md and tutorials/bayesian_glm.py.")
    return {
        "mle": mle,
        "coef_mean": coef_mean,
        "coef_sd": coef_sd,
        "true_coef": true_coef,
        "dispersion_mean": disp.mean(),
        "true_dispersion": true_dispersion,
    }


class _Parser(argparse.ArgumentParser):
    """argparse with our one-line error: ``numpyro-glm: error: ...`` and exit code 2."""

    def error(self, message):
        fail(message)


def fail(message: str) -> None:
    """Print ``numpyro-glm: error: message`` (one line) to stderr and exit with code 2."""
    line = " ".join(str(message).split())
    print(f"numpyro-glm: error: {line}", file=sys.stderr)
    raise SystemExit(2)


def _add_demo_parser(sub) -> None:
    demo = sub.add_parser(
        "demo", help="the full workflow on real data, written up as a report",
        description="Fit a GLM by IRLS and by NUTS, check it (posterior predictive, bootstrap), compare "
                    "Poisson with negative binomial, and write report.md/report.html with figures.")
    source = demo.add_mutually_exclusive_group()
    source.add_argument("--dataset", help="a shipped data set: fishing (default), ships, birthwt")
    source.add_argument("--data", metavar="FILE.csv", help="your own CSV file (header row; needs --y)")
    demo.add_argument("--y", help="response column (default: the data set's)")
    demo.add_argument("--x", metavar="COLUMNS", help="comma-separated predictor columns "
                      "(default: the data set's; for --data, every other column)")
    demo.add_argument("--exposure", metavar="COLUMN", help="exposure column (log link; default: the data set's)")
    demo.add_argument("--family", help="poisson, negative_binomial, bernoulli, gaussian, gamma, "
                      "inverse_gaussian, tweedie (default: the data set's)")
    demo.add_argument("--no-standardize", action="store_true",
                      help="use numeric predictors as given (default: standardise those that are not 0/1)")
    demo.add_argument("--out", default="numpyro_glm_report", help="report folder (default ./numpyro_glm_report)")
    demo.add_argument("--quick", action="store_true", help="fewer draws and replicates: about a minute")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-progress-bar", action="store_true", help="hide NumPyro's progress bar")


def _run_demo(args) -> int:
    from . import demo

    try:
        problem = demo.prepare(args.dataset, data=args.data, y=args.y, x=args.x, exposure=args.exposure,
                               family=args.family, standardize=not args.no_standardize)
    except (ValueError, FileNotFoundError) as error:
        fail(error)
    try:
        import jax
        import matplotlib

        matplotlib.use("Agg")  # figures go to the report folder; no screen needed
        # float64 (statsmodels-level digits) for this run only: a scoped setting, so the
        # global JAX configuration is never changed.
        with jax.enable_x64(True):
            demo.run(problem, demo.QUICK if args.quick else demo.FULL, out=args.out, seed=args.seed,
                     progress_bar=not args.no_progress_bar)
    except (ValueError, OSError) as error:
        fail(error)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The ``numpyro-glm`` command: ``demo`` or ``quickstart`` (the default).

    Returns 0; user errors end the process with one line on stderr and exit code 2.
    """
    parser = _Parser(prog="numpyro-glm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _add_demo_parser(sub)
    qs = sub.add_parser("quickstart", help="a short tour: families, links, Tweedie, NUTS")
    qs.add_argument("--num-samples", type=int, default=500, help="NUTS warmup and draws (default 500)")
    qs.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _run_demo(args)
    if args.command in (None, "quickstart"):
        num_samples = getattr(args, "num_samples", 500)
        if num_samples <= 0:
            parser.error("--num-samples must be positive")
        quickstart(num_samples=num_samples, seed=getattr(args, "seed", 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
