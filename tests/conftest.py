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


# pytest-xdist (--dist loadfile, --no-loadscope-reorder in pyproject.toml) hands files
# to workers in collection order, each worker taking the next file when it finishes
# one. Alphabetically (or, xdist's default, by number of tests) the long tutorial files
# came last and one ran alone at the end (~2 min with one core idle). The longest files
# go first (longest-processing-time-first); files not listed follow in their order.
# Seconds are CPU time on 2 cores at the time of writing.
_LONGEST_FILES_FIRST = (
    "test_fit.py",  # ~165 s
    "test_tutorials.py",  # ~110 s
    "test_tutorials_inference.py",  # ~105 s
    "test_fit_vs_statsmodels.py",  # ~85 s
    "test_distributions.py",  # ~85 s
    "test_demo.py",  # ~75 s
    "test_nuts_init.py",  # ~70 s
    "test_links.py",  # ~70 s
    "test_docs_and_cli.py",  # ~55 s
    "test_model.py",  # ~50 s
    "test_families.py",  # ~45 s
    "test_bootstrap.py",  # ~30 s
    "test_predictive.py",  # ~30 s
    "test_sharding.py",  # ~30 s
    "test_negative_binomial_derivatives.py",  # ~22 s
    "test_streaming.py",  # ~20 s
)


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        name = item.path.name
        return _LONGEST_FILES_FIRST.index(name) if name in _LONGEST_FILES_FIRST else len(_LONGEST_FILES_FIRST)

    items.sort(key=rank)  # stable: tests keep their order within a file
