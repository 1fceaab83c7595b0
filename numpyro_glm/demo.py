"""The demo: a whole GLM workflow on real data, written up as a report.

``python -m numpyro_glm demo`` (or ``numpyro-glm demo``) runs, on a shipped data set
(default ``fishing``: overdispersed counts with an exposure) or on your CSV file:

1. the maximum-likelihood fit by IRLS and R's summary table;
2. NUTS started from that fit (NumPyro's progress bar);
3. a posterior predictive check (batched replicates, PPC statistics, ``ppc.png``);
4. a pairs bootstrap of the fit;
5. the bootstrap against the posterior (table and ``bootstrap_vs_posterior.png``);
6. a comparison of Poisson against negative binomial (AIC from the IRLS fits, and
   LOO from NUTS in the full run; for a binary response, logit against probit and
   cloglog links), with a one-line conclusion;

and writes ``report.md``, ``report.html``, ``ppc.png``, ``bootstrap_vs_posterior.png``
and ``residuals.png`` into the output folder. All user errors are found by
:func:`prepare` before anything is compiled.

Example:
    >>> from numpyro_glm import demo
    >>> problem = demo.prepare(dataset="fishing")
    >>> problem.X.shape, problem.coef_names
    ((147, 3), ['(Intercept)', 'meandepth', 'period[2000-2002]'])
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import time
import warnings

import numpy as np

from . import datasets as _datasets

__all__ = ["Problem", "Settings", "prepare", "run", "QUICK", "FULL"]


@dataclasses.dataclass(frozen=True)
class Settings:
    """How much work each step does."""

    num_chains: int
    """NUTS chains."""
    num_warmup: int
    """NUTS warmup steps per chain."""
    num_samples: int
    """NUTS draws per chain."""
    n_boot: int
    """Bootstrap replicates."""
    loo: bool
    """Also fit the alternative model by NUTS and compare by LOO (``az.compare``)."""
    progress_bar: bool
    """Run the chains one after another with NumPyro's progress bar ("sequential"),
    or all in one compiled ``lax.map`` without one (faster to start: each
    "sequential" chain is initialised eagerly, op by op)."""
    refit_alpha: bool
    """Negative binomial with α estimated: re-estimate α in every bootstrap replicate
    (True), or hold it at the MLE α̂ (False: the replicates are plain IRLS fits, much
    cheaper to compile; β's bootstrap is then conditional on α̂)."""


QUICK = Settings(num_chains=2, num_warmup=150, num_samples=150, n_boot=200, loo=False, progress_bar=False,
                 refit_alpha=False)
"""``--quick``: about a minute on 2 CPU cores, most of it compilation."""
FULL = Settings(num_chains=4, num_warmup=500, num_samples=1000, n_boot=2000, loo=True, progress_bar=True,
                refit_alpha=True)
"""The default run: a few minutes on 2 CPU cores."""


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """A validated model: the design, the response and the family, ready to fit."""

    X: np.ndarray
    """Design matrix (n, p), float64, with the intercept column first."""
    y: np.ndarray
    """Response (n,), float64."""
    exposure: np.ndarray | None
    """Exposure (n,) (positive; log link only), or None."""
    family: object
    """The :class:`~numpyro_glm.families.Family` to fit."""
    coef_names: list
    """The p coefficient names."""
    response: str
    """The response column's name."""
    data_name: str
    """The data set's name, or the CSV file's."""
    notes: list
    """What was done to the data (rows dropped, columns standardised or coded), one line each."""
    description: str = ""
    """The data set's description (shipped data sets)."""
    source: str = ""
    """The data set's source (shipped data sets)."""


# --------------------------------------------------------------------------- preparing the data


def _family_name(family) -> str:
    return family.name.replace(" ", "_")


def _design(data: _datasets.Dataset, predictors, rows: np.ndarray, standardize: bool):
    """Intercept, then each predictor: text columns as treatment dummies (first level in
    sorted order is the reference), 0/1 columns as given, other numbers standardised
    (or as given)."""
    columns, names, notes = [np.ones(int(rows.sum()))], ["(Intercept)"], []
    for name in predictors:
        values = data[name][rows]
        if values.dtype.kind in "US":
            levels = sorted(set(values.tolist()))
            if len(levels) < 2:
                raise ValueError(f"predictor {name!r} has a single level ({levels[0]!r}): nothing to estimate")
            if len(levels) > 50:
                raise ValueError(f"predictor {name!r} is text with {len(levels)} levels; "
                                 "is it a numeric column with a stray non-number?")
            for level in levels[1:]:
                columns.append((values == level).astype(float))
                names.append(f"{name}[{level}]")
            notes.append(f"{name}: categorical, {len(levels)} levels, reference {levels[0]!r}")
            continue
        if np.all(np.isin(values, (0.0, 1.0))):
            columns.append(values.astype(float))
            names.append(name)
            notes.append(f"{name}: 0/1 indicator, used as given")
            continue
        sd = values.std(ddof=1) if values.size > 1 else 0.0
        if not sd > 0:
            raise ValueError(f"predictor {name!r} is constant: nothing to estimate")
        if standardize:
            columns.append((values - values.mean()) / sd)
            notes.append(f"{name}: standardised, (x - {values.mean():.4g}) / {sd:.4g}; "
                         "its coefficient is per standard deviation")
        else:
            columns.append(values.astype(float))
            notes.append(f"{name}: numeric, used as given")
        names.append(name)
    return np.column_stack(columns), names, notes


def prepare(
    dataset: str | None = None,
    *,
    data: str | os.PathLike | None = None,
    y: str | None = None,
    x=None,
    exposure: str | None = None,
    family: str | None = None,
    standardize: bool = True,
) -> Problem:
    """Load and check everything the demo needs, without compiling anything.

    Use it to fail fast: every user error (an unknown data set or family, a missing
    file or column, a response the family cannot take) raises here, before any JAX
    work.

    Args:
        dataset: a shipped data set (:func:`numpyro_glm.datasets.available`); default
            ``"fishing"`` when ``data`` is not given.
        data: a CSV file with a header row (then ``y`` is required).
        y: the response column (default: the data set's).
        x: predictor columns, a list or a comma-separated string (default: the data
            set's; for a CSV, every other column).
        exposure: an exposure column (log link only; default: the data set's).
        family: a family name for :func:`numpyro_glm.families.get` (default: the
            data set's, else Poisson for counts, Bernoulli for 0/1, Gaussian).
        standardize: standardise numeric predictors that are not 0/1.

    Returns:
        A :class:`Problem`: X (n, p) with an intercept, y (n,), exposure (n,) or None,
        the family, coefficient names and notes on what was done to the data.

    Raises:
        ValueError: unknown data set, family or column; a response that is not numeric
            or outside the family's support; a bad exposure.
        FileNotFoundError: ``data`` does not exist.

    Example:
        >>> from numpyro_glm import demo
        >>> problem = demo.prepare("birthwt", family="bernoulli")
        >>> problem.X.shape, problem.family.name
        ((189, 10), 'bernoulli')
    """
    from . import families as _families

    if data is not None and dataset is not None:
        raise ValueError("give either --dataset or --data, not both")
    if isinstance(x, str):
        x = [c.strip() for c in x.split(",") if c.strip()]
    if data is not None:
        if y is None:
            raise ValueError("--data needs --y, the response column")
        table = _datasets.read_csv(data)
    else:
        table = _datasets.load(dataset or "fishing")
    response = y or table.response
    exposure = exposure if exposure is not None else (table.exposure if y is None or y == table.response else None)
    predictors = list(x) if x else list(table.predictors) if table.predictors and (y is None or y == table.response) \
        else [c for c in table.names if c not in (response, exposure)]
    for column in [response, exposure, *predictors]:
        if column is not None and column not in table:
            raise ValueError(f"no column {column!r} in {table.name}; its columns are {', '.join(table.names)}")
    if response in predictors:
        raise ValueError(f"the response {response!r} is also among the predictors")
    if not predictors:
        raise ValueError("no predictor columns")
    if table[response].dtype.kind in "US":
        raise ValueError(f"the response {response!r} is not numeric")

    used = [response, *predictors] + ([exposure] if exposure else [])
    ok = np.ones(table.n_rows, bool)
    for column in used:
        values = table[column]
        ok &= (values != "") if values.dtype.kind in "US" else np.isfinite(values)
    notes = []
    if not ok.all():
        notes.append(f"{int((~ok).sum())} of {table.n_rows} rows with a missing value in {', '.join(used)} left out")
    if not ok.any():
        raise ValueError("every row has a missing value in the columns used")
    y_values = table[response][ok].astype(float)

    if family is None:
        family = table.family if y is None or y == table.response else None
    if family is None:
        integer = np.all(y_values == np.round(y_values)) and np.all(y_values >= 0)
        family = "bernoulli" if np.all(np.isin(y_values, (0.0, 1.0))) else "poisson" if integer else "gaussian"
    family_obj = _families.get(family)
    if family_obj.uses_trials:
        raise ValueError("the demo does not take the binomial family (it needs trials per row); "
                         "use bernoulli for a 0/1 response")
    try:
        family_obj.validate_response(y_values)
    except ValueError as error:
        raise ValueError(f"the response {response!r} cannot be modelled by the {family_obj.name} family: {error}") \
            from None

    exposure_values = None
    if exposure:
        if family_obj.link.name != "log":
            raise ValueError(f"an exposure needs the log link; the {family_obj.name} family here has link "
                             f"{family_obj.link.name!r}")
        exposure_values = table[exposure][ok].astype(float)
        if not np.all(exposure_values > 0):
            raise ValueError(f"the exposure {exposure!r} must be positive")
        notes.append(f"{exposure}: exposure, enters as log({exposure}) in the linear predictor")

    X, names, design_notes = _design(table, predictors, ok, standardize)
    if X.shape[0] <= X.shape[1]:
        raise ValueError(f"{X.shape[0]} rows for {X.shape[1]} coefficients: too few rows")
    return Problem(X=X, y=y_values, exposure=exposure_values, family=family_obj, coef_names=names,
                   response=response, data_name=table.name, notes=notes + design_notes,
                   description=table.description, source=table.source)


# --------------------------------------------------------------------------- the workflow


def _alternatives(family):
    """The families the comparison step fits beside the main one."""
    from . import families as F

    if isinstance(family, (F.Poisson, F.NegativeBinomial)):
        return [F.Poisson(), F.NegativeBinomial()]
    if isinstance(family, F.Bernoulli):
        return [F.Bernoulli(link=link) for link in ("logit", "probit", "cloglog")]
    return []


def _label(family) -> str:
    return f"{family.name} ({family.link.name})"


def _same(a, b) -> bool:
    return type(a) is type(b) and a.link.name == b.link.name and getattr(a, "alpha", None) == getattr(b, "alpha", None)


def _model_for(problem: Problem, family):
    import numpyro_glm as glm

    offset = None if problem.exposure is None else np.log(problem.exposure)
    names = problem.coef_names

    def model(X, y=None):
        glm.glm("y", X, y, family=family, offset=offset, coef_names=names)

    return model


def _fit(X, y, family, offset, names):
    """``glm.fit`` with the names attached afterwards: they are a static argument of its
    jit, and the fit inside ``glm.nuts`` (``mle_init``) is made without them, so passing
    them would compile the same fit twice."""
    import numpyro_glm as glm

    return dataclasses.replace(glm.fit(X, y, family, offset=offset), coef_names=tuple(names))


def _print(*args):
    print(*args, flush=True)


def _statistics(family):
    from . import families as F

    if isinstance(family, F.Bernoulli):
        return ["mean"]
    if family.name in ("poisson", "negative binomial", "negative_binomial"):
        return ["mean", "sd", "min", "max", "prop_zeros"]
    return ["mean", "sd", "min", "max", "q95"]


def _ppc_figure(idata, path):
    import arviz as az
    import matplotlib.pyplot as plt

    axes = az.plot_ppc(idata, num_pp_samples=100, random_seed=0, figsize=(8, 4.5))
    fig = np.ravel(axes)[0].figure
    fig.suptitle("Posterior predictive check: observed density against 100 replicates")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _normal_quantiles(n: int) -> np.ndarray:
    """Φ⁻¹((i − 0.5)/n), i = 1..n, by JAX's ndtri (no scipy)."""
    from jax.scipy.special import ndtri

    return np.asarray(ndtri((np.arange(1, n + 1) - 0.5) / n))


def _residuals_plot(fitted, residuals, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2))
    left, right = fig.subplots(1, 2)
    left.scatter(np.log(fitted), residuals, s=14, alpha=0.7)
    left.axhline(0, color="k", lw=0.8)
    for bound in (-2, 2):
        left.axhline(bound, color="grey", lw=0.6, ls="--")
    left.set_xlabel("log fitted mean")
    left.set_ylabel("randomized quantile residual")
    left.set_title("Residuals against fitted values")
    ordered = np.sort(residuals)
    theory = _normal_quantiles(ordered.size)
    right.scatter(theory, ordered, s=14, alpha=0.7)
    lim = [min(theory.min(), ordered.min()), max(theory.max(), ordered.max())]
    right.plot(lim, lim, color="k", lw=0.8)
    right.set_xlabel("standard normal quantile")
    right.set_ylabel("ordered residual")
    right.set_title("Normal Q-Q plot")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run(problem: Problem, settings: Settings = QUICK, out="numpyro_glm_report", seed: int = 0,
        progress_bar: bool = True) -> dict:
    """Run the workflow on a prepared problem and write the report folder.

    Args:
        problem: from :func:`prepare`.
        settings: :data:`QUICK` or :data:`FULL` (or your own :class:`Settings`).
        out: the report folder (created; files in it are overwritten).
        seed: the random seed of NUTS, the predictive check and the bootstrap.
        progress_bar: NumPyro's progress bar during NUTS.

    Returns:
        A dict: ``fit``, ``mcmc``, ``ppc``, ``bootstrap``, ``comparison`` (bootstrap
        against posterior, a DataFrame), ``families`` (rows of the family comparison),
        ``conclusion`` (one line), ``timings`` ({step: seconds}), ``report`` (the path
        of report.md).

    Example:
        >>> from numpyro_glm import demo  # doctest: +SKIP
        >>> result = demo.run(demo.prepare("fishing"), demo.QUICK, out="report")  # doctest: +SKIP
        >>> print(result["conclusion"])  # doctest: +SKIP
    """
    # (float64 and the Agg backend are set by the command line, the application; a
    # library function leaves the caller's global configuration alone.)
    import arviz as az
    import jax

    import numpyro_glm as glm

    from .report import Report

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    key_nuts, key_ppc, key_boot, key_res, key_alt = jax.random.split(jax.random.PRNGKey(seed), 5)
    family, X, y, exposure, names = problem.family, problem.X, problem.y, problem.exposure, problem.coef_names
    timings = {}
    started = time.perf_counter()

    def step(label):
        now = time.perf_counter()
        timings[label] = now - step.last
        step.last = now
        _print(f"[{label}: {timings[label]:.1f} s]\n")

    step.last = started

    _print(f"numpyro_glm demo: {problem.data_name}, {X.shape[0]} rows, response {problem.response!r}, "
           f"{_label(family)} family")
    for note in problem.notes:
        _print(f"  - {note}")
    _print()

    # 1. Maximum likelihood ---------------------------------------------------------
    _print("== 1. Maximum likelihood (IRLS)")
    offset = None if exposure is None else np.log(exposure)  # as the glm block gets it: one compile fewer
    fit = _fit(X, y, family, offset, names)
    summary = fit.summary()
    _print(summary)
    step("IRLS fit")

    # 2. NUTS from the MLE ------------------------------------------------------------
    s = settings
    _print(f"== 2. NUTS from the MLE: {s.num_chains} chains × ({s.num_warmup} warmup + {s.num_samples} draws)")
    model = _model_for(problem, family)
    show_bar = progress_bar and s.progress_bar
    if not show_bar:
        _print("(chains in one compiled lax.map: NumPyro shows no progress bar for those)")
    mcmc = glm.nuts(model, X, y, num_warmup=s.num_warmup, num_samples=s.num_samples, num_chains=s.num_chains,
                    key=key_nuts, progress_bar=show_bar)
    step("NUTS")

    # 3. Posterior predictive check ---------------------------------------------------
    _print("== 3. Posterior predictive check")
    ppc = glm.posterior_predictive(model, mcmc, X, y=y, key=key_ppc, statistics=_statistics(family),
                                   return_samples=True)
    _print(ppc.summary())
    idata = glm.to_inference_data(mcmc, posterior_predictive=ppc, log_likelihood=s.loo)
    var_names = [v for v in ("y_coef", "y_dispersion", "y_alpha") if v in idata.posterior]
    posterior_table = az.summary(idata, var_names=var_names, round_to=None)
    _print("\nPosterior summary:\n" + posterior_table.to_string(float_format=lambda v: f"{v:.4g}"))
    _ppc_figure(idata, out / "ppc.png")
    step("posterior predictive check")

    # 4. Bootstrap ----------------------------------------------------------------------
    boot_family, boot_note = family, ""
    if getattr(family, "estimates_alpha", False) and not s.refit_alpha:
        boot_family = family.replace(alpha=float(fit.alpha))
        boot_note = (f"α held at the MLE α̂ = {float(fit.alpha):.4g} in every replicate (--quick; the full run "
                     "re-estimates it): the coefficients' bootstrap is conditional on α̂.")
    _print(f"== 4. Pairs bootstrap, {s.n_boot} replicates" + (f"; {boot_note}" if boot_note else ""))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        boot = glm.bootstrap(X, y, boot_family, n_boot=s.n_boot, key=key_boot, offset=offset, coef_names=names)
    for w in caught:
        _print(f"warning: {w.message}")
    _print(boot.summary())
    step("bootstrap")

    # 5. Bootstrap against posterior -------------------------------------------------------
    _print("== 5. Bootstrap against posterior")
    idata_boot = glm.bootstrap_to_inference_data(boot)
    comparison = glm.compare_bootstrap_posterior(idata, idata_boot)
    _print(comparison.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    glm.plot_bootstrap_vs_posterior(idata, idata_boot, path=out / "bootstrap_vs_posterior.png")
    ratios = comparison.loc[comparison.source == "bootstrap", "sd_ratio"].to_numpy(float)
    ratio_line = (f"Bootstrap sd / posterior sd: {np.nanmin(ratios):.2f} to {np.nanmax(ratios):.2f} "
                  + ("(they agree: the model's variance fits the data)" if np.nanmax(ratios) < 1.3
                     else "(the bootstrap is wider: the model's variance is too small for these data)"))
    _print(ratio_line)
    residuals = np.asarray(fit.residuals(y, "quantile", key=key_res))
    _residuals_plot(np.asarray(fit.mu), residuals, out / "residuals.png")
    step("bootstrap vs posterior, figures")

    # 6. Family comparison -----------------------------------------------------------------
    alternatives = _alternatives(family)
    family_rows, conclusion, loo_table = [], "", None
    if alternatives:
        _print("== 6. Model comparison")
        fits = {}
        for alt in alternatives:
            fits[_label(alt)] = fit if _same(alt, family) else _fit(X, y, alt, offset, names)
        best_aic = min(float(f.aic) for f in fits.values())
        for label, f in fits.items():
            k = int(f.df_model) + 1 + (f.alpha is not None) + bool(f.family.has_free_dispersion)
            family_rows.append([label, float(f.loglik), k, float(f.aic), float(f.aic) - best_aic])
        family_rows.sort(key=lambda r: r[3])
        best, second = family_rows[0], family_rows[1]
        conclusion = (f"{best[0]} is preferred: its AIC is lower by {second[3] - best[3]:.1f} than "
                      f"{second[0]}'s")
        if settings.loo and len(alternatives) == 2:
            other = next(a for a in alternatives if not _same(a, family))
            _print(f"NUTS for {_label(other)} (for LOO)")
            other_mcmc = glm.nuts(_model_for(problem, other), X, y, num_warmup=s.num_warmup,
                                  num_samples=s.num_samples, num_chains=s.num_chains, key=key_alt)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pareto-k warnings are reported in the table
                loo_table = az.compare({_label(family): idata, _label(other): glm.to_inference_data(other_mcmc)},
                                       ic="loo")
            _print(loo_table.to_string(float_format=lambda v: f"{v:.4g}"))
            top = loo_table.index[0]
            if top == best[0]:
                conclusion += (f"; LOO agrees (elpd higher by {float(loo_table['elpd_diff'].iloc[1]):.1f} "
                               f"± {float(loo_table['dse'].iloc[1]):.1f})")
            else:
                conclusion += f"; LOO prefers {top} instead"
        conclusion += "."
        header = f"{'model':28s} {'loglik':>12s} {'params':>7s} {'AIC':>12s} {'ΔAIC':>10s}"
        _print(header)
        for row in family_rows:
            _print(f"{row[0]:28s} {row[1]:12.2f} {row[2]:7d} {row[3]:12.2f} {row[4]:10.2f}")
        _print("Conclusion: " + conclusion)
        step("model comparison")

    timings["total"] = time.perf_counter() - started

    # Report ---------------------------------------------------------------------------------
    report = Report(f"numpyro_glm demo: {problem.data_name}")
    report.paragraph(f"Response `{problem.response}`, {X.shape[0]} rows, {_label(family)} family, "
                     f"{X.shape[1]} coefficients. Run: {s.num_chains} NUTS chains × ({s.num_warmup} warmup + "
                     f"{s.num_samples} draws), {s.n_boot} bootstrap replicates, seed {seed}; "
                     f"{timings['total']:.0f} s.")
    if problem.description:
        report.paragraph(problem.description)
    if problem.source:
        report.paragraph(f"Source: {problem.source}.")
    report.heading("Data preparation")
    report.table(["column", "treatment"], [note.split(": ", 1) if ": " in note else ["", note]
                                           for note in problem.notes])
    report.heading("1. Maximum likelihood (IRLS)")
    report.table(["coefficient", "estimate", "std. error", "t value" if fit.uses_t else "z value", "p-value"],
                 [[*r[:4], "<2e-16" if r[4] < 2e-16 else f"{r[4]:.3g}"] for r in summary.rows])
    report.preformatted(str(summary))
    report.heading("2. Posterior (NUTS started from the MLE)")
    report.table(["parameter", *posterior_table.columns],
                 [[index, *row] for index, row in zip(posterior_table.index, posterior_table.to_numpy())])
    report.heading("3. Posterior predictive check")
    report.table(["statistic", "observed", "replicated mean", "replicated sd", "p-value"],
                 [[name, float(st.observed), float(np.mean(st.replicated)), float(np.std(st.replicated)),
                   float(st.p_value)] for name, st in ppc.statistics.items()])
    report.paragraph("p-value: P(T(y_rep) ≥ T(y)) over all posterior draws; values near 0 or 1 flag a misfit.")
    report.figure(out / "ppc.png", "Posterior predictive check (ppc.png)")
    report.heading("4. Pairs bootstrap")
    report.paragraph(f"{boot.n_boot} replicates, {boot.n_failed} failed. {boot_note}".strip())
    report.table(["coefficient", "estimate", "boot mean", "bias", "boot SE", "2.5%", "97.5%"],
                 [list(r) for r in boot.summary().rows])
    report.heading("5. Bootstrap against posterior")
    report.table(list(comparison.columns), comparison.to_numpy().tolist())
    report.paragraph(ratio_line + ".")
    report.figure(out / "bootstrap_vs_posterior.png", "Bootstrap against posterior (bootstrap_vs_posterior.png)")
    report.figure(out / "residuals.png", "Randomized quantile residuals of the MLE fit (residuals.png)")
    if family_rows:
        report.heading("6. Model comparison")
        report.table(["model", "log-likelihood", "parameters", "AIC", "ΔAIC"], family_rows)
        if loo_table is not None:
            cols = [c for c in ("rank", "elpd_loo", "p_loo", "elpd_diff", "se", "dse", "warning") if c in loo_table]
            report.table(["model", *cols], [[i, *(loo_table.loc[i, c] for c in cols)] for i in loo_table.index])
        report.paragraph(f"**Conclusion:** {conclusion}")
    report.heading("Timings")
    report.table(["step", "seconds"], [[k, v] for k, v in timings.items()], digits=3)
    md, html_path = report.write(out)
    _print(f"Report written to {md.resolve().parent}: report.md, report.html, ppc.png, "
           "bootstrap_vs_posterior.png, residuals.png")
    return dict(fit=fit, mcmc=mcmc, ppc=ppc, bootstrap=boot, comparison=comparison, families=family_rows,
                conclusion=conclusion, timings=timings, report=md)
