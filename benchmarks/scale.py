"""Scale: a streamed fit of a float32 memmap larger than we want resident, against one pass's floor.

    python benchmarks/scale.py [--quick]

1. Writes X (n × 20, float32: an intercept and 19 N(0, 1) columns) and a Poisson y
   to files in a temporary directory (in a child process, so that the generation's
   memory is not this process's), n = 20,000,000 (1.6 GB) or 2,000,000 with
   ``--quick``; deletes them at the end.
2. Streams them into ``numpyro_glm.fit_streaming`` (Poisson, log link) in chunks of
   ``ROWS`` rows, each chunk a fresh ``np.memmap`` of its rows (unmapped when used, so
   the pages read do not stay in this process's resident set). Warm (a fit of the
   first chunks compiles first), median of runs.
3. The floor, timed in the same run: one pass over the same chunks, reading each
   memmap chunk onto the device (``jax.device_put``) and forming XᵀWX on it
   (``irls._weighted_gram``, the library's Gram kernel), one after the other. Also
   its parts: the reads alone, and the Gram on one resident chunk × the chunk count.
4. Throughput per IRLS pass: rows × passes / time, where a pass is one read of all
   chunks (iterations, step halvings, the start and the finishing pass); target:
   within 2× of the floor's rows per second.
5. Peak resident set (``resource.getrusage``'s ru_maxrss) of this process, against
   the file's size. With ``--quick`` the coefficients are checked against ``fit`` on
   the rows in memory (after the peak is taken).

If ``benchmarks/scale_sharded.py`` exists, its ``run_sharded(quick)`` section is
appended (``--streamed-only`` skips it). Writes ``benchmarks/results/scale.md`` (``scale_quick.md`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

P = 20
ROWS = 500_000  # rows per chunk: 40 MB of float32 X
SEED = 11
RESULTS = pathlib.Path(__file__).parent / "results"


# --------------------------------------------------------------------------- data (child process, numpy only)


def generate(directory: str, n: int) -> None:
    """Write X.f32 (n × P) and y.f32 (n,) chunk by chunk (never all of X in memory)."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    beta = np.concatenate([[0.3], rng.choice([-1.0, 1.0], P - 1) * rng.uniform(0.02, 0.08, P - 1)])
    with open(os.path.join(directory, "X.f32"), "wb") as fx, open(os.path.join(directory, "y.f32"), "wb") as fy:
        for start in range(0, n, ROWS):
            m = min(ROWS, n - start)
            X = np.empty((m, P), np.float32)
            X[:, 0] = 1.0
            X[:, 1:] = rng.standard_normal((m, P - 1), dtype=np.float32)
            y = rng.poisson(np.exp(X @ beta.astype(np.float32))).astype(np.float32)
            fx.write(X.tobytes())
            fy.write(y.tobytes())


def rss_mb() -> float:
    """Current resident set (VmRSS), MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def memory_status() -> dict:
    """This process's VmRSS, RssAnon (heap: arrays, JAX buffers) and RssFile (mapped
    file pages, e.g. of a memmap: page cache the kernel can drop), MB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) / 1024
    return out


def memory_child(directory: str, n: int) -> None:
    """In a fresh process: one streamed fit alone, its memory sampled every 10 ms.

    The timing process's own peak also counts the floor passes, whose device_put
    aliases memmap pages; this one sees only what a user's fit holds."""
    import threading

    import numpy as np

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    import numpyro_glm as glm

    x_path, y_path = os.path.join(directory, "X.f32"), os.path.join(directory, "y.f32")

    def chunks():
        for start in range(0, n, ROWS):
            m = min(ROWS, n - start)
            yield (np.memmap(x_path, np.float32, "r", offset=start * P * 4, shape=(m, P)),
                   np.memmap(y_path, np.float32, "r", offset=start * 4, shape=(m,)))

    before = memory_status()
    peaks = dict(before)
    done = threading.Event()

    def sample():
        while not done.is_set():
            for key, value in memory_status().items():
                peaks[key] = max(peaks[key], value)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = glm.fit_streaming(chunks, glm.Poisson())
    done.set()
    sampler.join()
    # (Not ru_maxrss: a child inherits the forking parent's high-water mark across exec.)
    print(json.dumps({"before": before, "peak": peaks, "n_iter": int(result.n_iter)}))


def measure_memory(directory: str, n: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--memory-child", directory, str(n)], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- measurements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 2,000,000 instead of 20,000,000")
    parser.add_argument("--streamed-only", action="store_true", help="skip the sharded section")
    parser.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.generate[0], int(args.generate[1]))
        return
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]))
        return
    n = 2_000_000 if args.quick else 20_000_000
    directory = tempfile.mkdtemp(prefix="numpyro_glm_scale_")
    try:
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate", directory, str(n)], check=True)
        generation = time.perf_counter() - start
        print(f"wrote {n:,} × {P} float32 in {generation:.1f} s to {directory}", flush=True)
        report = measure(directory, n, args.quick, generation)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    sharded = ""
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    try:
        from scale_sharded import run_sharded  # noqa: PLC0415 (written separately; optional)
    except ImportError:
        run_sharded = None
    if run_sharded is not None and not args.streamed_only:
        try:
            sharded = run_sharded(args.quick)
        except Exception as error:  # noqa: BLE001 (the streamed results are written regardless)
            sharded = f"## Sharded fits\n\nNot measured: `scale_sharded.run_sharded` failed: {error!r}\n"
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("scale_quick.md" if args.quick else "scale.md")
    text = report + ("\n" + sharded if sharded else "")
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


def measure(directory: str, n: int, quick: bool, generation: float) -> str:
    import jax
    import jax.numpy as jnp
    import jaxlib
    import numpy as np

    # Measure the checkout this script lives in, not an installed (possibly older) copy.
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    import numpyro_glm as glm
    from numpyro_glm import irls, streaming

    # Time each pass of the fit (a wrapper around the private pass runner: benchmark-only).
    pass_times: list[float] = []
    run_pass = streaming._Stream.run

    def timed_pass(self, *args, **kwargs):
        t = time.perf_counter()
        out = run_pass(self, *args, **kwargs)
        pass_times.append(time.perf_counter() - t)
        return out

    streaming._Stream.run = timed_pass

    x_path, y_path = os.path.join(directory, "X.f32"), os.path.join(directory, "y.f32")
    starts = list(range(0, n, ROWS))

    def chunk(start):
        m = min(ROWS, n - start)
        X = np.memmap(x_path, np.float32, "r", offset=start * P * 4, shape=(m, P))
        y = np.memmap(y_path, np.float32, "r", offset=start * 4, shape=(m,))
        return X, y

    def chunks(limit=None):
        def read():
            for start in starts[:limit]:
                yield chunk(start)
        return read

    family = glm.Poisson()
    rss_before = rss_mb()
    # Warm: compiles the chunk function for this shape (and the small solves).
    start = time.perf_counter()
    glm.fit_streaming(chunks(2), family)
    compile_time = time.perf_counter() - start
    print(f"warm-up fit on 2 chunks (compiles): {compile_time:.2f} s", flush=True)

    gram = jax.jit(irls._weighted_gram)
    ones = jax.device_put(np.ones(ROWS, np.float32))

    def floor_pass():
        total = None
        for s in starts:
            X, _ = chunk(s)
            X = jax.device_put(np.asarray(X), may_alias=False)
            w = ones if X.shape[0] == ROWS else ones[: X.shape[0]]
            g = gram(X, w)
            total = g if total is None else total + g
        return total.block_until_ready()

    def read_only():  # an explicit copy of each chunk's pages (what fit_streaming's reader does)
        for s in starts:
            X, y = chunk(s)
            np.array(X), np.array(y)

    resident = jax.device_put(np.asarray(chunk(0)[0]), may_alias=False)

    def gram_only():
        for _ in starts:
            gram(resident, ones).block_until_ready()

    floor_pass(), gram_only()  # compile, first touch
    repeats = 3 if quick else 2
    timings = {"floor": [], "read": [], "gram": [], "fit": [], "fit_no_prefetch": []}
    passes, first_pass, later_passes, result = [], [], [], None
    for _ in range(repeats):  # round-robin, so that load changes hit all alike
        for name, fn in (("floor", floor_pass), ("read", read_only), ("gram", gram_only)):
            t = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - t)
        pass_times.clear()
        t = time.perf_counter()
        result = glm.fit_streaming(chunks(), family)
        timings["fit"].append(time.perf_counter() - t)
        passes.append(len(pass_times))
        first_pass.append(pass_times[0])
        later_passes.extend(pass_times[1:])
        print(f"fit {timings['fit'][-1]:.2f} s, {passes[-1]} passes, floor {timings['floor'][-1]:.2f} s", flush=True)
    pass_times.clear()
    t = time.perf_counter()
    glm.fit_streaming(chunks(), family, prefetch=0)
    timings["fit_no_prefetch"].append(time.perf_counter() - t)
    passes_no_prefetch = len(pass_times)
    no_prefetch_pass = statistics.median(pass_times[1:])
    peak = peak_rss_mb()
    memory = measure_memory(directory, n)
    med = {name: statistics.median(v) for name, v in timings.items()}
    n_pass = statistics.median(passes)
    per_pass = statistics.median(later_passes)  # an IRLS pass (not the first, checking one)
    all_in = med["fit"] / n_pass
    fit_rate, floor_rate = n / per_pass, n / med["floor"]

    check = ""
    if quick:  # now that the peak is taken: the same fit with all rows in memory
        X = np.fromfile(x_path, np.float32).reshape(n, P)
        y = np.fromfile(y_path, np.float32)
        expected = glm.fit(X, y, family)
        rel = float(np.max(np.abs(np.asarray(result.coef) - np.asarray(expected.coef)) / np.abs(expected.coef)))
        check = (f"Check: `fit` on the same rows in memory (float32) gives coefficients within {rel:.1e} "
                 f"(max relative difference); streamed n_iter {int(result.n_iter)}, fit's {int(expected.n_iter)}.")
        del X, y

    size_mb = n * P * 4 / 2**20
    lines = [
        "# Scale: streamed fits of a float32 memmap",
        "",
        f"`python benchmarks/scale.py{' --quick' if quick else ''}` — Poisson (log), n = {n:,}, p = {P} "
        f"(intercept + {P - 1} N(0, 1) columns), float32 X on disk ({size_mb:,.0f} MB, written in "
        f"{generation:.0f} s by a child process), chunks of {ROWS:,} rows, each a fresh `np.memmap`; "
        f"warm (compile {compile_time:.1f} s on a 2-chunk fit first); median of {repeats} runs, "
        "the fit and its floor timed round-robin.",
        "",
        f"- Machine: {platform.platform()}, usable CPUs {len(os.sched_getaffinity(0))}, "
        f"jax {jax.__version__} / jaxlib {jaxlib.__version__} ({jax.default_backend()}); "
        f"load average at the end {tuple(round(v, 2) for v in os.getloadavg())} (the machine is shared).",
        "",
        "| | time (s) | rows / s | / floor |",
        "|---|---|---|---|",
        f"| **floor: one pass** (device_put of each memmap chunk, which XLA:CPU aliases, + `irls._weighted_gram` "
        f"XᵀWX reading its pages) | {med['floor']:.3f} | {floor_rate:,.0f} | 1.00× |",
        f"| &nbsp;&nbsp;reads alone (a copy of each X and y chunk's pages) | {med['read']:.3f} | "
        f"{n / med['read']:,.0f} | — |",
        f"| &nbsp;&nbsp;XᵀWX alone (one resident chunk × {len(starts)}) | {med['gram']:.3f} | "
        f"{n / med['gram']:,.0f} | — |",
        f"| `fit_streaming` (prefetch=2), whole fit: {n_pass:g} passes, n_iter {int(result.n_iter)} "
        f"| {med['fit']:.3f} | — | — |",
        f"| **`fit_streaming`, one IRLS pass** (median over the passes after the first) | {per_pass:.3f} | "
        f"{fit_rate:,.0f} | **{per_pass / med['floor']:.2f}×** |",
        f"| `fit_streaming`, first pass (also checks every chunk on the host) | {statistics.median(first_pass):.3f} | "
        f"{n / statistics.median(first_pass):,.0f} | {statistics.median(first_pass) / med['floor']:.2f}× |",
        f"| `fit_streaming`, all in (whole fit / passes) | {all_in:.3f} | {n / all_in:,.0f} | "
        f"{all_in / med['floor']:.2f}× |",
        f"| `fit_streaming`, one IRLS pass with prefetch=0 (no overlap) | {no_prefetch_pass:.3f} | "
        f"{n / no_prefetch_pass:,.0f} | {no_prefetch_pass / med['floor']:.2f}× |",
        "",
        f"Target: a pass within 2× of the floor — {'met' if per_pass <= 2 * med['floor'] else 'NOT met'} "
        f"({per_pass / med['floor']:.2f}×). A pass of the fit also copies each chunk out of the page cache (in "
        "the reader thread), forms Xβ, XᵀWz, the deviance, the validity checks and the Pearson sum; the first "
        "pass also checks every chunk on the host (finiteness, support, XᵀX in float64 for aliased columns). "
        f"{passes_no_prefetch} passes with prefetch=0.",
        "",
        f"Memory of one streamed fit alone, in a fresh process (sampled every 10 ms): peak resident set "
        f"**{memory['peak']['VmRSS']:,.0f} MB** for a {size_mb:,.0f} MB file "
        f"({memory['peak']['VmRSS'] / size_mb:.2f}× its size), of which at most "
        f"{memory['peak']['RssAnon']:,.0f} MB anonymous (arrays, JAX's buffers; "
        f"{memory['before']['RssAnon']:,.0f} MB before the fit: Python, JAX, XLA) and "
        f"{memory['peak']['RssFile']:,.0f} MB mapped file pages (the memmaps' page cache, and the libraries: "
        f"{memory['before']['RssFile']:,.0f} MB before the fit). A chunk of X is {ROWS * P * 4 / 2**20:.0f} MB; the "
        "device holds about prefetch + 2 of them. (The timing process above, which also ran the floor passes, "
        f"peaked at {peak:,.0f} MB: its device_put aliases the memmaps' pages.)",
        "",
    ]
    if check:
        lines += [check, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
