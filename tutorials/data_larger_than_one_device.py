# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       format_name: percent
# ---

# %% [markdown]
# # When your data outgrow one device
#
# Three ways to fit a GLM to more rows than one device holds, all with the numbers
# of `glm.fit` (R's `glm`):
#
# 1. **Sharded rows** (`glm.shard_rows` + `glm.fit`): the rows are split over the
#    devices of one process; XLA turns XᵀWX, Xᵀr and the deviance into all-reduces,
#    and nothing gathers X onto one device.
# 2. **Several processes** (`jax.distributed`): each process holds its own rows; the
#    same two calls, in every process, give every process the same coefficients.
# 3. **Streamed chunks** (`glm.fit_streaming`): for data that fit on no device at all,
#    each IRLS iteration reads the chunks once (from host memory, a `np.memmap` or
#    files), and the device holds a few chunks at a time.
#
# This machine may have no accelerator, so the tutorial asks XLA for 4 CPU "devices"
# (they share the cores: this shows the mechanics and the agreement, not a speedup).
# That flag must be set before JAX starts, hence the first lines.
#
# Run it as a script (`python tutorials/data_larger_than_one_device.py`) or open it in
# Jupyter with jupytext (in a fresh kernel). `NUMPYRO_GLM_TUTORIAL_SMALL=1` shrinks it
# (the test suite does that).

# %%
import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()

import pathlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

import numpyro_glm as glm  # noqa: E402

jax.config.update("jax_enable_x64", True)  # a tutorial may; the library never does
SMALL = os.environ.get("NUMPYRO_GLM_TUTORIAL_SMALL") == "1"
n, p = (20_002 if SMALL else 2_000_002), 6
print(jax.devices())

# %% [markdown]
# ## Data: claim counts with an exposure
#
# A Poisson GLM with a log link; the exposure (policy years) enters as an offset. The
# row count is deliberately not a multiple of 4.

# %%
rng = np.random.default_rng(0)
X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
exposure = rng.uniform(0.2, 1.0, n)
true_coef = np.array([-1.5, 0.3, -0.2, 0.1, 0.0, 0.25])
y = rng.poisson(exposure * np.exp(X @ true_coef)).astype(float)
offset = np.log(exposure)

reference = glm.fit(X, y, glm.Poisson(), offset=offset)  # on one device
print(reference.summary(coef_names=["(Intercept)", "x1", "x2", "x3", "x4", "x5"]))

# %% [markdown]
# ## 1. Rows sharded over the devices
#
# `shard_rows` places every array by rows over a 1-D mesh of all devices. n = 20,002
# rows (2,000,002 at full size) do not divide by 4, so it appends 2 rows with weight 0
# (which change nothing) and says so; `n_padded` records it. The result unpacks into `fit`'s keyword arguments.

# %%
data = glm.shard_rows(X, y, offset=offset)
print("padded rows:", data.n_padded, "| X is held by", len(data.X.sharding.device_set), "devices:",
      data.X.sharding.spec)
sharded = glm.fit(**data, family=glm.Poisson())
print("largest relative difference from the one-device fit:",
      float(np.max(np.abs(np.asarray(sharded.coef) / np.asarray(reference.coef) - 1))))
np.testing.assert_allclose(sharded.coef, reference.coef, rtol=1e-10)
np.testing.assert_allclose(sharded.se, reference.se, rtol=1e-10)
np.testing.assert_allclose(sharded.deviance, reference.deviance, rtol=1e-10)

# %% [markdown]
# `fit` sees that its inputs span several devices and validates them where they are:
# bad values are counted by on-device reductions, and R's aliased-column rule runs on
# the p × p Gram XᵀX; only those small results come to the host. The compiled fit
# itself has all-reduces and no all-gather of X:

# %%
hlo = jax.jit(lambda X, y, offset: glm.fit(X, y, glm.Poisson(), offset=offset).coef).lower(
    data.X, data.y, data.offset).compile().as_text()
print("all-reduces:", hlo.count("all-reduce("), "| all-gathers:", hlo.count("all-gather("))
assert hlo.count("all-gather(") == 0

# %% [markdown]
# Many fits against one X (a simulation study, the bootstrap, thousands of phenotypes)
# shard the other way: along the batch axis, each device fitting its share of the
# responses.

# %%
ys = rng.poisson(exposure * np.exp(X @ true_coef), size=(8, n)).astype(float)
mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ("batch",))
ys_sharded = jax.device_put(ys, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch")))
batch_coef = jax.jit(jax.vmap(lambda y: glm.fit(X, y, glm.Poisson(), offset=offset).coef))(ys_sharded)
print("coefficients of 8 responses, held by", len(batch_coef.sharding.device_set), "devices")
np.testing.assert_allclose(batch_coef[3], glm.fit(X, ys[3], glm.Poisson(), offset=offset).coef, rtol=1e-10)

# %% [markdown]
# ## 2. Several processes
#
# On a cluster each host runs the same script; `jax.distributed.initialize` connects
# them, and each process passes **its own rows** to `shard_rows`, which builds the
# global arrays (`jax.make_array_from_process_local_data`). Here two processes on
# this machine, each with 2 CPU devices and the gloo collectives that ship with
# jaxlib, hold half of the rows each (files stand in for each host's own data):

# %%
workdir = pathlib.Path(tempfile.mkdtemp())
half = n // 2
for rank, rows in enumerate([slice(0, half), slice(half, n)]):
    np.savez(workdir / f"rows{rank}.npz", X=X[rows], y=y[rows], offset=offset[rows])

worker = workdir / "worker.py"
worker.write_text(textwrap.dedent("""
    import sys
    import jax
    import numpy as np
    import numpyro_glm as glm

    rank, port = int(sys.argv[1]), int(sys.argv[2])
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2, process_id=rank)
    mine = np.load(sys.argv[3])                          # this process's rows only
    data = glm.shard_rows(mine["X"], mine["y"], offset=mine["offset"])
    result = glm.fit(**data, family=glm.Poisson())
    print(repr(np.asarray(result.coef).tolist()))
"""))

env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
port = 20_000 + os.getpid() % 20_000
workers = [subprocess.Popen([sys.executable, str(worker), str(rank), str(port), str(workdir / f"rows{rank}.npz")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for rank in range(2)]
outputs = [w.communicate(timeout=300) for w in workers]
for rank, (out, err) in enumerate(outputs):
    assert workers[rank].returncode == 0, err[-2000:]
    coef = np.array(eval(out.strip().splitlines()[-1]))
    print(f"process {rank}: coefficients {np.round(coef, 4)}")
    np.testing.assert_allclose(coef, reference.coef, rtol=1e-10)

# %% [markdown]
# Both processes hold the same coefficients, equal to the one-device fit. Validation
# runs collectively too: bad data raise the same `ValueError` in every process.
#
# ## 3. Streamed chunks: data that fit on no device
#
# `fit_streaming` takes a zero-argument function that yields the chunks afresh on
# each call (one call per pass over the data). Here the rows live in float32 files on
# disk, read through `np.memmap` in chunks of 5,000 rows (500,000 at full size). Each
# chunk is padded to the first chunk's size, so one compiled function serves all of
# them, and a background thread reads the next chunks while the device works.

# %%
X_file, y_file, offset_file = (workdir / name for name in ("X.f32", "y.f32", "offset.f32"))
X.astype(np.float32).tofile(X_file)
y.astype(np.float32).tofile(y_file)
offset.astype(np.float32).tofile(offset_file)
chunk_rows = 5_000 if SMALL else 500_000


def chunks():
    X_all = np.memmap(X_file, np.float32, "r", shape=(n, p))
    y_all = np.memmap(y_file, np.float32, "r", shape=(n,))
    offset_all = np.memmap(offset_file, np.float32, "r", shape=(n,))
    for start in range(0, n, chunk_rows):
        rows = slice(start, start + chunk_rows)
        yield X_all[rows], y_all[rows], None, offset_all[rows]  # (X, y, weights, offset)


streamed = glm.fit_streaming(chunks, glm.Poisson())
print(streamed.summary(coef_names=["(Intercept)", "x1", "x2", "x3", "x4", "x5"]))
print("dtype:", streamed.coef.dtype, "| largest relative difference from the float64 fit:",
      float(np.max(np.abs(np.asarray(streamed.coef) / np.asarray(reference.coef) - 1))))
np.testing.assert_allclose(streamed.coef, reference.coef, rtol=1e-4)  # float32 data

# %% [markdown]
# The chunks on disk are float32, so the streamed fit runs in float32: it agrees with
# the float64 fit to float32's precision. Chunks in float64 (with `jax_enable_x64`)
# give the float64 numbers to 1e-10 (`tests/test_streaming.py`).
#
# The streamed result is a `GLMFit` like any other (`summary`, `predict`, `conf_int`),
# except that it holds no per-row `eta` and `mu` (shape (0,)): those would be as long
# as the data.
#
# ## Which one when
#
# | your data | use |
# |---|---|
# | fit on one device | `glm.fit` |
# | fit in the memory of several devices (one host) | `glm.fit(**glm.shard_rows(...))` |
# | are spread over hosts | `jax.distributed` + `shard_rows` with each host's rows |
# | fit on no device (or not in host memory) | `glm.fit_streaming(chunks)` |
#
# Guides: [sharded fits](../docs/sharding.md), [streamed fits](../docs/streaming.md).
# Benchmarks: `python benchmarks/scale.py --quick`.
