"""GLM fitting speed: numpyro_glm against statsmodels, glum, scikit-learn and glmax.

    python benchmarks/fit_speed.py [--quick]

Everything runs in one process, float64, warm (each contender is called once before
timing; JAX results are ``block_until_ready``), median of several runs:

1. Poisson (log), logistic (Bernoulli logit) and Gamma (log) fits with p = 20 dense
   columns (intercept + 19 standard normals) at n = 1e5 and 1e6 (1e5 only with
   ``--quick``). Contenders: ``numpyro_glm.fit`` (the public call: validation, alias
   detection, standard errors, ...), ``numpyro_glm.irls.solve`` (the jitted core on
   device arrays), statsmodels GLM (IRLS), glum (IRLS, alpha=0), scikit-learn
   (lbfgs and newton-cholesky, no penalty) and glmax (IRLS). Accuracy: the largest
   relative coefficient difference from statsmodels and from the exact MLE (the
   statsmodels fit polished by two Newton steps in numpy).
2. A floor for the same work: numpyro_glm's iterations × (the weighted Gram XᵀWX by
   BLAS dsyrk, one Xβ, one Xᵀr in numpy), and the same count of naive jitted JAX
   steps; plus a breakdown of where ``fit``'s time goes at the largest n. At n ≥
   65,536 those iterations start after numpyro_glm's warm start; the floor at R's
   count (``irls.solve(..., warm_start=False)``) is reported too.
3. 1,000 bootstrap refits (n = 1,000, p = 10, Poisson) under one ``jax.vmap`` over
   multinomial frequency weights, against glmax under vmap over the same resamples
   (glmax takes no weights, so it gets the resampled rows) and a Python loop of
   statsmodels fits with ``freq_weights``.
4. ``jax.grad`` of Σβ̂ with respect to y through ``fit`` (n = 1e5, p = 20), jitted,
   against the jitted fit alone.
5. First-call compile time of ``fit`` and ``irls.solve`` on fresh shapes, and of
   ``fit`` at n = 100,003 (which also compiles the warm start).

Writes ``benchmarks/results/fit_speed.md`` (``fit_speed_quick.md`` with ``--quick``, so
that a smoke run does not overwrite the full results).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import platform
import statistics
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import glmax  # noqa: E402  (switches jax_enable_x64 on at import: harmless here)
import jax.numpy as jnp  # noqa: E402
import jaxlib  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
import sklearn  # noqa: E402
import statsmodels  # noqa: E402
import statsmodels.api as sm  # noqa: E402
import glum  # noqa: E402
from glum import GeneralizedLinearRegressor  # noqa: E402
from scipy.linalg.blas import dsyrk  # noqa: E402
from sklearn.linear_model import GammaRegressor, LogisticRegression, PoissonRegressor  # noqa: E402

import sys  # noqa: E402

# Measure the checkout this script lives in, not an installed (possibly older) copy.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import numpyro_glm as nglm  # noqa: E402
from numpyro_glm import irls  # noqa: E402

fit_module = importlib.import_module("numpyro_glm.fit")  # the module (``nglm.fit`` is the function)

RESULTS = pathlib.Path(__file__).parent / "results"
P = 20
FAMILIES = ("poisson", "logistic", "gamma")
GAMMA_SHAPE = 2.0
# Peers get tight tolerances so that speed is compared at (near) equal accuracy.
GLUM_GRADIENT_TOL = 1e-10
SKLEARN_TOL = 1e-10
GLMAX_TOL = 1e-8  # absolute change of the summed negative log-likelihood


# --------------------------------------------------------------------------- helpers


def block(tree):
    for leaf in jax.tree_util.tree_leaves(tree):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
    return tree


def time_runs(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def make_data(kind: str, n: int, p: int, seed: int):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
    slopes = rng.choice([-1.0, 1.0], p - 1) * rng.uniform(0.05, 0.15, p - 1)
    intercept = {"poisson": 0.3, "logistic": -0.2, "gamma": 0.5}[kind]
    eta = X @ np.concatenate([[intercept], slopes])
    if kind == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    elif kind == "logistic":
        y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    else:
        y = rng.gamma(GAMMA_SHAPE, np.exp(eta) / GAMMA_SHAPE)
    return X, y


def row_derivatives(kind, X, y, coef):
    """Score and negative observed Hessian of the log-likelihood (φ = 1), numpy."""
    eta = X @ coef
    if kind == "poisson":
        mu = np.exp(eta)
        d1, d2 = y - mu, mu
    elif kind == "logistic":
        mu = 1.0 / (1.0 + np.exp(-eta))
        d1, d2 = y - mu, mu * (1.0 - mu)
    else:  # Gamma, log link: ℓ ∝ −y e^{−η} − η
        r = y * np.exp(-eta)
        d1, d2 = r - 1.0, r
    return X.T @ d1, X.T @ (X * d2[:, None])


def exact_mle(kind, X, y, start, steps=2):
    coef = np.array(start, float)
    for _ in range(steps):
        g, h = row_derivatives(kind, X, y, coef)
        coef = coef + np.linalg.solve(h, g)
    return coef


def max_rel(coef, ref) -> float:
    return float(np.max(np.abs(np.asarray(coef, float) - ref) / np.abs(ref)))


# --------------------------------------------------------------------------- contenders


def nglm_family(kind):
    return {"poisson": nglm.Poisson(), "logistic": nglm.Bernoulli(), "gamma": nglm.Gamma(link="log")}[kind]


def contenders(kind, X, y):
    """name -> zero-argument callable returning (coef as numpy, iterations)."""
    family = nglm_family(kind)
    Xj, yj = jax.device_put(X), jax.device_put(y)

    def ours_fit():
        result = block(nglm.fit(X, y, family))
        return np.asarray(result.coef), int(result.n_iter)

    def ours_solve():
        result = block(irls.solve(Xj, yj, family))
        return np.asarray(result.coef), int(result.n_iter)

    sm_family = {
        "poisson": sm.families.Poisson(),
        "logistic": sm.families.Binomial(),
        "gamma": sm.families.Gamma(sm.families.links.Log()),
    }[kind]

    def statsmodels_fit():
        result = sm.GLM(y, X, family=sm_family).fit()
        return np.asarray(result.params), int(result.fit_history["iteration"])

    glum_family, glum_link = {"poisson": ("poisson", "log"), "logistic": ("binomial", "logit"),
                              "gamma": ("gamma", "log")}[kind]

    def glum_fit():
        model = GeneralizedLinearRegressor(family=glum_family, link=glum_link, alpha=0, fit_intercept=False,
                                           gradient_tol=GLUM_GRADIENT_TOL)
        model.fit(X, y)
        return np.asarray(model.coef_), int(model.n_iter_)

    def sklearn_fit(solver):
        def run():
            if kind == "logistic":
                # scikit-learn 1.9 deprecates penalty=None; C=inf is the unpenalised fit.
                model = LogisticRegression(C=np.inf, solver=solver, fit_intercept=False, tol=SKLEARN_TOL,
                                           max_iter=10_000)
            else:
                cls = PoissonRegressor if kind == "poisson" else GammaRegressor
                model = cls(alpha=0.0, solver=solver, fit_intercept=False, tol=SKLEARN_TOL, max_iter=10_000)
            model.fit(X, y)
            return np.ravel(model.coef_), int(np.max(model.n_iter_))

        return run

    glmax_family = {"poisson": glmax.Poisson(), "logistic": glmax.Binomial(),
                    "gamma": glmax.Gamma(glmax.LogLink())}[kind]
    glmax_fitter = glmax.IRLSFitter(tol=GLMAX_TOL)

    def glmax_fit():
        fitted = glmax.fit(glmax_family, Xj, yj, fitter=glmax_fitter)
        block(fitted.result.params.beta)
        return np.asarray(fitted.result.params.beta), int(fitted.result.num_iters)

    return {
        "numpyro_glm.fit": ours_fit,
        "numpyro_glm.irls.solve": ours_solve,
        "statsmodels GLM (IRLS)": statsmodels_fit,
        "glum (irls-ls)": glum_fit,
        "sklearn lbfgs": sklearn_fit("lbfgs"),
        "sklearn newton-cholesky": sklearn_fit("newton-cholesky"),
        "glmax IRLS": glmax_fit,
    }


# --------------------------------------------------------------------------- floor


# numpyro_glm's n_iter at n ≥ 65,536 starts after its warm start (irls._subsample_stride).
WARM_NOTE = (", counted from its warm start (five IRLS steps on every 32nd row and, unless XᵀWX is fixed, one on "
             "every 8th; left out of the floor)")


def floor_steps(X, y, kind, coef, iterations):
    """Callables for the BLAS floor and the naive jitted JAX step, each run ``iterations`` times.

    Floor iteration: √W·X into a Fortran buffer, dsyrk (XᵀWX, one triangle), Xβ, Xᵀr (numpy).
    """
    XF = np.asfortranarray(X)
    eta = XF @ coef
    mu = np.exp(eta) if kind != "logistic" else 1.0 / (1.0 + np.exp(-eta))
    w = {"poisson": mu, "logistic": mu * (1 - mu), "gamma": np.ones_like(mu)}[kind]
    r = y - mu
    sqrt_w = np.sqrt(w)
    scaled = np.empty_like(XF)

    def blas_step():
        np.multiply(XF, sqrt_w[:, None], out=scaled)  # √W X, Fortran order for dsyrk
        gram = dsyrk(1.0, scaled, trans=1)  # (√W X)ᵀ(√W X), upper triangle
        return gram, XF @ coef, XF.T @ r

    naive = jax.jit(lambda X, w, r, b: ((X * w[:, None]).T @ X, X @ b, X.T @ r))
    args = (jax.device_put(X), jax.device_put(w), jax.device_put(r), jax.device_put(coef))

    def floor():
        for _ in range(iterations):
            blas_step()

    def syrk_only():
        for _ in range(iterations):
            dsyrk(1.0, scaled, trans=1)

    def naive_steps():
        for _ in range(iterations):
            block(naive(*args))

    return {"BLAS floor": floor, "dsyrk alone": syrk_only, "naive jitted JAX step": naive_steps}


def profile_fit(X, y, kind, repeats):
    """Where the time of the public ``fit`` goes (warm)."""
    family = nglm_family(kind)
    Xj, yj = jax.device_put(X), jax.device_put(y)
    n = X.shape[0]
    w = jax.device_put(np.random.default_rng(1).uniform(0.5, 1.5, n))
    r = jax.device_put(np.random.default_rng(2).standard_normal(n))
    gram = jax.jit(getattr(irls, "_weighted_gram", lambda X, w: X.T @ (X * w[:, None])))
    plain_gram = jax.jit(lambda X, w: X.T @ (X * w[:, None]))
    xtr = jax.jit(lambda X, r: X.T @ r)
    xtr_sum = jax.jit(lambda X, r: jnp.sum(X * r[:, None], axis=0))
    xb = jax.jit(lambda X, b: X @ b)
    b = jnp.ones(X.shape[1])

    def fit_arrays():
        return block(fit_module._fit_arrays(Xj, yj, None, None, None, None, None, family=family, tol=1e-8,
                                            max_iter=100, dispersion_kind="pearson", coef_names=None))

    pieces = {
        "fit (public call, numpy in)": lambda: block(nglm.fit(X, y, family)),
        "fit (public call, jax arrays in)": lambda: block(nglm.fit(Xj, yj, family)),
        "  _validate (numpy checks)": lambda: fit_module._validate(X, y, family, None, None, None, None, None),
        "  _host_matrix (64-byte aligned copy of X, if needed)": lambda: fit_module._host_matrix(X),
        "  _check_design (numpy XᵀX: finiteness + aliased columns; runs only if XᵀWX cannot rule them out)":
            lambda: fit_module._check_design(X, np.ones(n, bool)),
        "  jax.device_put(X, may_alias=True) (aligned: no copy)":
            lambda: block(jax.device_put(fit_module._host_matrix(X), may_alias=True)),
        "  (for comparison: jnp.asarray(X), a host → device copy)": lambda: block(jnp.asarray(X)),
        "  _fit_arrays (jitted: IRLS + SEs + deviances + XᵀWX check)": fit_arrays,
        "    irls.solve alone": lambda: block(irls.solve(Xj, yj, family)),
        "one irls._weighted_gram (library's XᵀWX)": lambda: block(gram(Xj, w)),
        "one XLA plain Xᵀ(X·w) dot": lambda: block(plain_gram(Xj, w)),
        "one XLA Xᵀr (dot)": lambda: block(xtr(Xj, r)),
        "one XLA Xᵀr as sum(X·r, 0)": lambda: block(xtr_sum(Xj, r)),
        "one XLA Xβ": lambda: block(xb(Xj, b)),
        "one numpy QR of X (mode='r'), for comparison": lambda: np.linalg.qr(X, mode="r"),
    }
    out = {}
    for name, fn in pieces.items():
        try:  # private helpers may be renamed while the library evolves
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fn()
                out[name], _ = time_runs(fn, repeats)
        except (AttributeError, TypeError) as error:
            print(f"  profile {name}: skipped ({error})", flush=True)
            continue
        print(f"  profile {name}: {out[name]:.4f} s", flush=True)
    return out


# --------------------------------------------------------------------------- cases


def run_case(kind, n, quick):
    """Warm every contender, then time them round-robin (one call each per round), so
    that load changes on a shared machine hit all of them alike."""
    X, y = make_data(kind, n, P, seed={"poisson": 1, "logistic": 2, "gamma": 3}[kind])
    fns = contenders(kind, X, y)
    rows, coefs = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in fns.items():
            start = time.perf_counter()
            coef, iterations = fn()  # warm-up (compiles JAX code, first-touch memory)
            first = time.perf_counter() - start
            slow = n >= 1_000_000 and first > 3.0 and not name.startswith("numpyro_glm")
            coefs[name] = coef
            rows[name] = {"first": first, "repeats": 3 if slow or quick else 5, "n_iter": iterations, "times": []}
            print(f"{kind} n={n:,} {name}: first call {first:.3f} s, {iterations} iterations", flush=True)
        reference = coefs["statsmodels GLM (IRLS)"]
        exact = exact_mle(kind, X, y, reference)
        ours_iter = rows["numpyro_glm.irls.solve"]["n_iter"]
        # R's iteration count: the same IRLS from mustart, without the warm start.
        cold_iter = int(irls.solve(jax.device_put(X), jax.device_put(y), nglm_family(kind), warm_start=False).n_iter)
        floors = floor_steps(X, y, kind, exact, ours_iter)
        for name, fn in floors.items():
            fn()
            rows[name] = {"repeats": 3 if quick else 5, "n_iter": ours_iter, "times": []}
        fns = {**fns, **floors}
        for round_ in range(max(row["repeats"] for row in rows.values())):
            for name, fn in fns.items():
                if round_ < rows[name]["repeats"]:
                    start = time.perf_counter()
                    fn()
                    rows[name]["times"].append(time.perf_counter() - start)
    for name, row in rows.items():
        row["time"] = statistics.median(row["times"])
        if name in coefs:
            row["rel_sm"] = max_rel(coefs[name], reference)
            row["rel_exact"] = max_rel(coefs[name], exact)
        print(f"{kind} n={n:,} {name}: {row['time']:.4f} s (runs {', '.join(f'{t:.3f}' for t in row['times'])})",
              flush=True)
    floor = {name: rows.pop(name) for name in floors}
    profile = profile_fit(X, y, kind, 3) if kind == "poisson" and n == (100_000 if quick else 1_000_000) else None
    return {"kind": kind, "n": n, "rows": rows, "floor": floor, "n_iter": ours_iter, "cold_iter": cold_iter,
            "profile": profile}


# --------------------------------------------------------------------------- bootstrap

BOOT_N, BOOT_P, BOOT_B = 1_000, 10, 1_000


def bootstrap_data():
    X, y = make_data("poisson", BOOT_N, BOOT_P, seed=4)
    rng = np.random.default_rng(5)
    W = rng.multinomial(BOOT_N, np.full(BOOT_N, 1.0 / BOOT_N), size=BOOT_B).astype(float)  # each sums to n
    return X, y, W


def bootstrap_worker(mode: str, chunk: int, path: str, repeats: int) -> None:
    """Run one vmapped numpyro_glm bootstrap in this (child) process; print JSON, save β̂ to ``path``.

    Runs in a subprocess because a single vmap of irls.solve over 1,000 weight vectors
    has been seen to hang XLA:CPU (all threads idle in futex waits, with the earlier
    jnp.linalg.lstsq fallback in irls._wls); the parent kills it after a timeout.
    """
    import json

    X, y, W = bootstrap_data()
    family = nglm.Poisson()
    Xj, yj = jax.device_put(X), jax.device_put(y)
    if mode == "fit":
        one = lambda w: nglm.fit(Xj, yj, family, weights=w).coef  # noqa: E731
    else:
        one = lambda w: irls.solve(Xj, yj, family, w).coef  # noqa: E731
    batched = jax.jit(jax.vmap(one))
    status = jax.jit(jax.vmap(lambda w: irls._solve(Xj, yj, family, w).status))
    Wj = jax.device_put(W)

    def run():
        return np.concatenate([np.asarray(block(batched(Wj[i:i + chunk]))) for i in range(0, BOOT_B, chunk)])

    start = time.perf_counter()
    coef = run()
    first = time.perf_counter() - start
    median, times = time_runs(run, repeats)
    n_bad = sum(int(jnp.sum(status(Wj[i:i + chunk]) != 0)) for i in range(0, BOOT_B, chunk))
    np.save(path, coef)
    print(json.dumps({"time": median, "times": times, "first": first, "n_bad": n_bad}))


def run_bootstrap_worker(mode, chunk, timeout, repeats):
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = str(pathlib.Path(tmp) / "coef.npy")
        cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--bootstrap-worker", mode, str(chunk), path,
               str(repeats)]
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"bootstrap {mode} chunk {chunk}: no result after {timeout} s (killed)", flush=True)
            return {"hung": True, "timeout": timeout, "wall": time.perf_counter() - start}
        if proc.returncode != 0:
            print(proc.stderr[-3000:])
            return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}"}
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["coef"] = np.load(path)
        print(f"bootstrap {mode} chunk {chunk}: {result['time']:.4f} s (first call incl. compile "
              f"{result['first']:.2f} s)", flush=True)
        return result


def bootstrap(quick):
    X, y, W = bootstrap_data()
    n, B = BOOT_N, BOOT_B
    Xj, yj = jax.device_put(X), jax.device_put(y)
    repeats = 3 if quick else 5
    hang_timeout = 60 if quick else 180
    chunk = 200
    ours = {}
    for mode in ("solve", "fit"):
        if quick and mode == "fit" and "time" not in ours[("solve", B)]:
            single = {"skipped": True}  # fit runs the same core: do not wait for a second hang in --quick
        else:
            single = run_bootstrap_worker(mode, B, hang_timeout, repeats)
        ours[(mode, B)] = single
        if "time" not in single:
            ours[(mode, chunk)] = run_bootstrap_worker(mode, chunk, 600, repeats)

    # glmax has no prior/frequency weights: give it the same resamples as rows.
    index = jax.device_put(np.stack([np.repeat(np.arange(n), w.astype(int)) for w in W]))
    glmax_fitter = glmax.IRLSFitter(tol=GLMAX_TOL)
    glmax_boot = jax.jit(jax.vmap(lambda idx: glmax.fit(glmax.Poisson(), Xj[idx], yj[idx],
                                                        fitter=glmax_fitter).result.params.beta))
    block(glmax_boot(index))
    glmax_time, _ = time_runs(lambda: block(glmax_boot(index)), repeats)
    glmax_coef = np.asarray(glmax_boot(index))
    print(f"bootstrap glmax: {glmax_time:.4f} s", flush=True)

    n_loop = 50 if quick else B
    sm_coef = []

    def sm_loop():
        sm_coef.clear()
        for w in W[:n_loop]:
            sm_coef.append(sm.GLM(y, X, family=sm.families.Poisson(), freq_weights=w).fit().params)

    sm_loop()
    loop_time, _ = time_runs(sm_loop, 3 if quick else 1)
    sm_coef = np.array(sm_coef)
    sm_time = loop_time * B / n_loop
    print(f"bootstrap statsmodels loop: {sm_time:.4f} s ({n_loop} fits timed)", flush=True)

    reference = next((r["coef"] for r in ours.values() if "coef" in r), None)

    def agree(a, b):
        return float(np.max(np.abs(a - b) / np.abs(b).max(1)[:, None]))

    agreement = {"glmax vs statsmodels": agree(glmax_coef[:n_loop], sm_coef)}
    for (mode, c), r in ours.items():
        if "coef" in r:
            agreement[f"numpyro_glm {mode} vs statsmodels"] = agree(r["coef"][:n_loop], sm_coef)
    print(f"bootstrap agreement {agreement}", flush=True)
    return {"ours": ours, "glmax": glmax_time, "sm": sm_time, "n_loop": n_loop, "agreement": agreement,
            "B": B, "n": n, "p": BOOT_P, "chunk": chunk, "hang_timeout": hang_timeout, "has_ref": reference is not None}


# --------------------------------------------------------------------------- grad


def grad_ratio(quick):
    n = 100_000
    X, y = make_data("poisson", n, P, seed=6)
    family = nglm.Poisson()
    Xj, yj = jax.device_put(X), jax.device_put(y)
    fit_only = jax.jit(lambda X, y: nglm.fit(X, y, family).coef)
    grad = jax.jit(jax.grad(lambda y, X: nglm.fit(X, y, family).coef.sum()))
    block(fit_only(Xj, yj))
    block(grad(yj, Xj))
    repeats = 3 if quick else 7
    times = {"fit": [], "grad": []}
    for _ in range(repeats):  # interleaved, as the fits
        for name, fn in (("fit", lambda: block(fit_only(Xj, yj))), ("grad", lambda: block(grad(yj, Xj)))):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    t_fit, t_grad = statistics.median(times["fit"]), statistics.median(times["grad"])
    # Check against the closed form: dβ̂/dy = (XᵀWX)⁻¹Xᵀ for the canonical Poisson link.
    coef = np.asarray(fit_only(Xj, yj))
    mu = np.exp(X @ coef)
    expected = X @ np.linalg.solve(X.T @ (X * mu[:, None]), np.ones(P))
    err = float(np.max(np.abs(np.asarray(grad(yj, Xj)) - expected)) / np.max(np.abs(expected)))
    print(f"grad: fit {t_fit:.4f} s, grad {t_grad:.4f} s, ratio {t_grad / t_fit:.2f}, rel err {err:.1e}", flush=True)
    return {"fit": t_fit, "grad": t_grad, "ratio": t_grad / t_fit, "err": err, "n": n}


# --------------------------------------------------------------------------- compile


def compile_times(quick):
    out = []
    for i, kind in enumerate(FAMILIES[:1] if quick else FAMILIES):
        for j, which in enumerate(("fit", "irls.solve")):
            n, p = 5_003 + 10 * i + j, 7 + i  # fresh shapes: nothing cached
            X, y = make_data(kind, n, p, seed=7)
            family = nglm_family(kind)
            if which == "fit":
                call = lambda: block(nglm.fit(X, y, family))  # noqa: E731
            else:
                Xj, yj = jax.device_put(X), jax.device_put(y)
                call = lambda: block(irls.solve(Xj, yj, family))  # noqa: E731
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                call()
                first = time.perf_counter() - start
                warm, _ = time_runs(call, 3)
            out.append({"kind": kind, "which": which, "n": n, "p": p, "first": first, "warm": warm})
            print(f"compile {which} {kind}: first call {first:.2f} s, warm {warm:.4f} s", flush=True)
    # At n ≥ 65,536 fit also compiles its warm start (irls._subsample_stride).
    n, p = 100_003, 7
    X, y = make_data("poisson", n, p, seed=7)
    call = lambda: block(nglm.fit(X, y, nglm_family("poisson")))  # noqa: E731
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    warm, _ = time_runs(call, 3)
    out.append({"kind": "poisson", "which": "fit (warm start)", "n": n, "p": p, "first": first, "warm": warm})
    print(f"compile fit (warm start) poisson: first call {first:.2f} s, warm {warm:.4f} s", flush=True)
    return out


# --------------------------------------------------------------------------- report


def machine_description() -> list[str]:
    from threadpoolctl import threadpool_info

    lines = [
        f"- Platform: {platform.platform()}, {platform.machine()}, Python {platform.python_version()}",
        f"- CPUs: os.cpu_count() = {os.cpu_count()}, usable = {len(os.sched_getaffinity(0))}",
        f"- jax {jax.__version__}, jaxlib {jaxlib.__version__}, backend {jax.default_backend()} "
        f"({jax.devices()[0].device_kind}); XLA:CPU does its own dots (not the BLAS below)",
        f"- numpy {np.__version__}, scipy {scipy.__version__}, statsmodels {statsmodels.__version__}, "
        f"glum {glum.__version__}, scikit-learn {sklearn.__version__}, glmax {glmax.__version__}",
    ]
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        lines.append(f"- numpy BLAS: {blas.get('name')} {blas.get('version')}")
    except Exception:  # noqa: BLE001 (older numpy)
        pass
    for info in threadpool_info():
        lines.append(f"- threadpoolctl: {info.get('internal_api')} {info.get('version')} "
                     f"({info.get('threading_layer', '')}, {info.get('num_threads')} threads, "
                     f"{info.get('architecture', '')}) from {pathlib.Path(info.get('filepath', '')).name}")
    return lines


def write_report(args, cases, boot, grad, compiles, load_start, load_end, elapsed):
    lines = [
        "# GLM fitting speed: numpyro_glm vs statsmodels, glum, scikit-learn, glmax",
        "",
        f"`python benchmarks/fit_speed.py{' --quick' if args.quick else ''}` — one process, float64, warm "
        "(each contender called once before timing, JAX outputs `block_until_ready`), "
        + ("median of 3 runs (--quick)" if args.quick
           else "median of 5 runs (3 for peers whose first call at n = 1e6 took > 3 s)")
        + "; the contenders of a case are timed round-robin (one call each per round). "
        "p = 20 (intercept + 19 N(0, 1) columns), "
        f"coefficients ±U(0.05, 0.15); Gamma shape {GAMMA_SHAPE:g}. Total wall time {elapsed / 60:.1f} min.",
        "",
        "Tolerances: numpyro_glm and statsmodels R's |ΔD|/(|D|+0.1) < 1e-8; "
        f"glum gradient_tol={GLUM_GRADIENT_TOL:g}; scikit-learn tol={SKLEARN_TOL:g} (max_iter 10,000); "
        f"glmax IRLSFitter(tol={GLMAX_TOL:g}) (absolute change of Σ NLL). "
        "Accuracy columns: max_j |β_j − ref_j| / |ref_j| against statsmodels, and against the exact MLE "
        "(statsmodels' fit polished by two numpy Newton steps on the observed Hessian).",
        "",
        "Ratios are contender time / numpyro_glm time (> 1: numpyro_glm faster).",
        "",
        "Machine:",
        "",
        *machine_description(),
        f"- Load average (1, 5, 15 min) at start {tuple(round(v, 2) for v in load_start)}, at end "
        f"{tuple(round(v, 2) for v in load_end)} — the machine is shared, so absolute times are noisy; "
        "the round-robin spreads load changes over all contenders of a case.",
        "",
        "## 1. Fits",
        "",
    ]
    for case in cases:
        rows = case["rows"]
        t_fit = rows["numpyro_glm.fit"]["time"]
        t_solve = rows["numpyro_glm.irls.solve"]["time"]
        lines += [
            f"### {case['kind']} (n = {case['n']:,}, p = {P})",
            "",
            "| contender | time (s) | / numpyro_glm.fit | / irls.solve | iterations | runs | max rel. Δ vs statsmodels "
            "| max rel. Δ vs exact MLE |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, row in rows.items():
            lines.append(
                f"| {name} | {row['time']:.4f} | {row['time'] / t_fit:.2f}× | {row['time'] / t_solve:.2f}× | "
                f"{row['n_iter']} | {row['repeats']} | {row['rel_sm']:.1e} | {row['rel_exact']:.1e} |"
            )
        f = {name: row["time"] for name, row in case["floor"].items()}
        it = case["n_iter"]
        lines += [
            "",
            f"Floor ({it} iterations = numpyro_glm's n_iter{WARM_NOTE if case['n'] >= 65_536 else ''}; timed in the "
            f"same rounds): {it} × (√W·X into a Fortran "
            f"buffer + dsyrk + Xβ + Xᵀr) = **{f['BLAS floor']:.4f} s** (dsyrk alone {f['dsyrk alone']:.4f} s); "
            f"irls.solve / floor = **{t_solve / f['BLAS floor']:.1f}×**, fit / floor = **{t_fit / f['BLAS floor']:.1f}×**. "
            f"Naive jitted JAX step ((X·w)ᵀX, Xβ, Xᵀr) × {it} = {f['naive jitted JAX step']:.4f} s "
            f"(irls.solve / naive = {t_solve / f['naive jitted JAX step']:.1f}×)."
            + (f" From R's mustart (no warm start) the same fit takes {case['cold_iter']} iterations; the floor "
               f"for that many is {f['BLAS floor'] * case['cold_iter'] / it:.4f} s, and fit / that floor = "
               f"**{t_fit / (f['BLAS floor'] * case['cold_iter'] / it):.1f}×**." if case["cold_iter"] != it else "")
            + (" numpyro_glm also runs 1–2 Newton polishing steps for this non-canonical link (not in the floor), "
               "and forms XᵀWX once (the weights of Gamma-log do not change)." if case["kind"] == "gamma" else ""),
            "",
        ]
        if case["profile"]:
            lines += [
                f"Where `fit`'s time goes ({case['kind']}, n = {case['n']:,}, warm, median of 3):",
                "",
                "| piece | time (s) |",
                "|---|---|",
                *[f"| {name} | {t:.4f} |" for name, t in case["profile"].items()],
                "",
            ]
    lines += [
        "## Summary table (largest n)",
        "",
    ]
    largest = max(c["n"] for c in cases)
    names = list(cases[0]["rows"])
    lines += [
        "| contender | " + " | ".join(f"{c['kind']} n={c['n']:,} (s)" for c in cases if c["n"] == largest) + " |",
        "|---|" + "---|" * sum(c["n"] == largest for c in cases),
    ]
    for name in names:
        cells = []
        for c in cases:
            if c["n"] == largest:
                row = c["rows"][name]
                cells.append(f"{row['time']:.3f} ({row['time'] / c['rows']['numpyro_glm.fit']['time']:.2f}×)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    def floor_cell(c):
        floor = c["floor"]["BLAS floor"]["time"]
        t_fit = c["rows"]["numpyro_glm.fit"]["time"]
        at_r = (f"; {t_fit / (floor * c['cold_iter'] / c['n_iter']):.1f}× the floor at R's {c['cold_iter']} iterations"
                if c["cold_iter"] != c["n_iter"] else "")
        return (f"{floor:.3f} (solve {c['rows']['numpyro_glm.irls.solve']['time'] / floor:.1f}× floor, "
                f"fit {t_fit / floor:.1f}×{at_r})")

    floor_cells = [floor_cell(c) for c in cases if c["n"] == largest]
    naive_cells = [f"{c['floor']['naive jitted JAX step']['time']:.3f}" for c in cases if c["n"] == largest]
    lines += [
        "| BLAS floor (n_iter × dsyrk + Xβ + Xᵀr) | " + " | ".join(floor_cells) + " |",
        "| naive jitted JAX step × n_iter | " + " | ".join(naive_cells) + " |",
        "",
        "(In parentheses: time / numpyro_glm.fit.)",
        "",
        f"## 2. Bootstrap: {boot['B']:,} refits, Poisson, n = {boot['n']:,}, p = {boot['p']}",
        "",
        "Multinomial(n, 1/n) frequency weights; jit(vmap(...)) over the weight vectors. glmax takes no weights, "
        "so it gets the same resamples as rows (X[idx], y[idx]) under vmap. The numpyro_glm runs happen in a "
        f"child process that is killed if it gives no result within {boot['hang_timeout']} s (a single vmap of "
        "1,000 once hung XLA:CPU); it is then retried in chunks.",
        "",
        "| method | time (s) | / glmax vmap | note |",
        "|---|---|---|---|",
    ]
    labels = {
        "solve": "numpyro_glm.irls.solve, vmap over weights",
        "fit": "numpyro_glm.fit(...).coef, vmap over weights",
    }
    hung = any(r.get("hung") for r in boot["ours"].values())
    for (mode, chunk), r in boot["ours"].items():
        how = "one vmap of 1,000" if chunk == boot["B"] else f"{boot['B'] // chunk} vmapped chunks of {chunk}"
        if "time" in r:
            note = f"{how}; first call incl. compile {r['first']:.1f} s; not converged: {r['n_bad']}"
            lines.append(f"| {labels[mode]} | {r['time']:.4f} | {r['time'] / boot['glmax']:.2f}× | {note} |")
        elif r.get("hung"):
            lines.append(f"| {labels[mode]} | **hung** | — | {how}: no result after {r['timeout']} s (killed) |")
        elif r.get("skipped"):
            lines.append(f"| {labels[mode]} | not tried | — | {how}: skipped in --quick after irls.solve hung |")
        else:
            lines.append(f"| {labels[mode]} | error | — | {r.get('error', '')} |")
    if hung:
        notes = [
            "",
            "**A single vmap over 1,000 weight vectors hung** (no progress, process killed). As first diagnosed "
            "(jax 0.10.2, 2-core CPU), a hung process has every XLA:CPU thread idle in a futex wait and the main thread in "
            "BlockUntilReady — a deadlock, not slow compute. It is intermittent (≈ 1 in 2–3 processes) and went "
            "away when the while-loop body held one batched Cholesky solve instead of two (the ridge fallback in "
            "irls._wls under vmap becomes a select that always runs its second factorisation); chunks of "
            f"{boot['chunk']} did not hang.",
        ]
    else:
        notes = []
    lines += [
        f"| glmax IRLS, vmap over resampled rows | {boot['glmax']:.4f} | 1.00× | one vmap of 1,000 |",
        f"| statsmodels loop with freq_weights | {boot['sm']:.4f} | {boot['sm'] / boot['glmax']:.2f}× | "
        f"{boot['n_loop']} fits timed{'' if boot['n_loop'] == boot['B'] else ', scaled to 1,000'} |",
        "",
        *notes,
        "",
        "Agreement (max over refits of max|Δβ| / max|β|): "
        + ", ".join(f"{k} {v:.1e}" for k, v in boot["agreement"].items()) + ".",
        "",
        f"## 3. Gradient through the fit (Poisson, n = {grad['n']:,}, p = {P})",
        "",
        "| | time (s) |",
        "|---|---|",
        f"| jit(fit(X, y).coef) | {grad['fit']:.4f} |",
        f"| jit(grad(y ↦ Σ fit(X, y).coef)) | {grad['grad']:.4f} |",
        f"| ratio grad / fit | {grad['ratio']:.2f}× |",
        "",
        f"The gradient matches the closed form X(XᵀWX)⁻¹1 to {grad['err']:.1e} (relative).",
        "",
        "## 4. First-call (compile) time, fresh shapes",
        "",
        "| call | family | shape | first call (s) | warm call (s) | ≈ compile (s) |",
        "|---|---|---|---|---|---|",
    ]
    for c in compiles:
        lines.append(f"| {c['which']} | {c['kind']} | ({c['n']}, {c['p']}) | {c['first']:.2f} | {c['warm']:.4f} | "
                     f"{c['first'] - c['warm']:.2f} |")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("fit_speed_quick.md" if args.quick else "fit_speed.md")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 1e5 only, fewer repeats and statsmodels fits")
    parser.add_argument("--bootstrap-worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bootstrap_worker:
        mode, chunk, path, repeats = args.bootstrap_worker
        bootstrap_worker(mode, int(chunk), path, int(repeats))
        return
    start = time.perf_counter()
    load_start = os.getloadavg()
    sizes = [100_000] if args.quick else [100_000, 1_000_000]
    compiles = compile_times(args.quick)  # first, so that nothing else has compiled these shapes
    cases = [run_case(kind, n, args.quick) for n in sizes for kind in FAMILIES]
    boot = bootstrap(args.quick)
    grad = grad_ratio(args.quick)
    write_report(args, cases, boot, grad, compiles, load_start, os.getloadavg(), time.perf_counter() - start)


if __name__ == "__main__":
    main()
