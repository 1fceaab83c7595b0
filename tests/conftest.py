"""The suite runs in float64 (statsmodels and scipy are float64 oracles).

The library never touches global JAX config; only the tests do, here. Dedicated
float32 tests build float32 arrays explicitly.
"""

import os

# The suite is compile-bound: its data are small, and most of its time is XLA
# compiling fits and samplers. LLVM's optimisation of the generated CPU code is ~20%
# of that time (597 s -> 497 s for the whole suite on 2 cores) and buys nothing at
# these sizes; the math XLA emits is the same. Set before JAX creates its CPU
# backend; subprocesses (tutorials, the README) inherit it. Users and benchmarks
# run at XLA's default level.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
