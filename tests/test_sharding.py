"""Fits on data sharded across devices and processes give the single-device fit.

The device count of JAX is fixed when its CPU backend starts, so the checks on 4
host devices run in one subprocess (``XLA_FLAGS=--xla_force_host_platform_device_count=4``),
and the ``jax.distributed`` checks in two (2 devices each, gloo collectives): this
file is also the script they run (``python tests/test_sharding.py devices`` or
``... process <id> <port>``), printing JSON that the tests compare with the
single-device fit. The rest of the suite keeps its one device.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import numpyro_glm as glm
from numpyro_glm import sharding
from numpyro_glm.families import SupportRule

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIELDS = ("coef", "se", "deviance", "null_deviance", "aic", "loglik", "df_resid", "status")


# --------------------------------------------------------------------------- data (shared with the subprocesses)


def poisson_data(n=1002, p=4, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    offset = 0.2 * rng.normal(size=n)
    y = rng.poisson(np.exp(X @ np.linspace(0.5, -0.3, p) + offset)).astype(float)
    return X, y, offset


def logistic_data(n=801, p=3, seed=1):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-X @ np.linspace(-0.5, 1.0, p)))).astype(float)
    weights = rng.integers(1, 4, size=n).astype(float)
    return X, y, weights


def summary(result) -> dict:
    return {field: np.asarray(getattr(result, field)).tolist() for field in FIELDS}


def error_text(call) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except ValueError as error:
        return str(error)
    return "no error"


def assert_same_fit(sharded: dict, single: dict):
    for field in FIELDS:
        np.testing.assert_allclose(sharded[field], single[field], rtol=1e-10, atol=1e-12, err_msg=field)


# --------------------------------------------------------------------------- the subprocess scripts


def run_on_four_devices() -> dict:
    """Sharded fits against single-device fits in one process with 4 host devices."""
    assert jax.device_count() == 4
    out = {}
    X, y, offset = poisson_data()
    single = glm.fit(X, y, glm.Poisson(), offset=offset)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = glm.shard_rows(X, y, offset=offset)
    out["padding_warnings"] = [str(w.message) for w in caught]
    out["n_padded"] = data.n_padded
    out["sharded_shape"] = list(data.X.shape)
    out["devices_holding_X"] = len(data.X.sharding.device_set)
    out["padded_weights"] = np.asarray(data.weights[-3:]).tolist()
    result = glm.fit(**data, family=glm.Poisson())
    out["poisson"] = {"sharded": summary(result), "single": summary(single)}
    out["eta_devices"] = len(result.eta.sharding.device_set)

    # The IRLS sums are all-reduces in the compiled core; X is never gathered.
    from numpyro_glm.fit import _fit_arrays

    hlo = _fit_arrays.lower(data.X, data.y, data.weights, data.offset, None, None, None, family=glm.Poisson(),
                            tol=1e-8, max_iter=100, dispersion_kind="pearson", coef_names=None,
                            sharded=True).compile().as_text()
    out["all_reduce_in_hlo"] = hlo.count("all-reduce(")
    out["gathers_of_X"] = [line.strip()[:160] for line in hlo.splitlines() if "all-gather(" in line]
    # The same at 50,000 rows and 10 columns, where a local X would take the blocked
    # XᵀWX layout: any all-gather of the whole X, shaped (n, p).
    big = glm.shard_rows(*poisson_data(n=50_000, p=10)[:2])
    hlo = _fit_arrays.lower(big.X, big.y, big.weights, None, None, None, None, family=glm.Poisson(), tol=1e-8,
                            max_iter=100, dispersion_kind="pearson", coef_names=None,
                            sharded=True).compile().as_text()
    out["gathers_of_X_at_50000_rows"] = [line.strip()[:160] for line in hlo.splitlines()
                                         if "all-gather(" in line and "[50000,10]" in line]

    out["splats_as"] = list(data.keys())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        even = glm.shard_rows(X[:1000], y[:1000], offset=offset[:1000])  # 1000 rows divide over 4 devices
    out["even"] = {"warnings": len(caught), "n_padded": even.n_padded, "weights": even.weights is None}

    # The reference for the sharded two-process logistic fit (test_two_processes_...).
    X, y, weights = logistic_data()
    out["logistic_single"] = summary(glm.fit(X, y, glm.Bernoulli(), weights=weights))

    # Rank deficiency, named as on the host (the fits reuse the compiled Poisson fit above).
    X, y, offset = poisson_data()
    X = np.column_stack([X, X[:, 1] - 2 * X[:, 3]])
    rank = {}
    for where, args in (("single", (X, y, None, offset)), ("sharded", tuple(glm.shard_rows(X, y, offset=offset)))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            coef = np.asarray(glm.fit(args[0], args[1], glm.Poisson(), weights=args[2], offset=args[3]).coef)
        rank[where] = {"warnings": [str(w.message) for w in caught], "coef": np.where(np.isnan(coef), None, coef).tolist()}
    out["rank_deficient"] = rank

    # Bad values: the same ValueError text as on the host.
    X = X[:, :4]
    y_bad = y.copy()
    y_bad[[3, 997]] = np.nan
    X_bad = X.copy()
    X_bad[5, 2] = np.inf
    out["errors"] = {
        "y_nan": [error_text(lambda: glm.fit(X, y_bad, glm.Poisson())),
                  error_text(lambda: glm.fit(**glm.shard_rows(X, y_bad), family=glm.Poisson()))],
        "X_inf": [error_text(lambda: glm.fit(X_bad, y, glm.Poisson())),
                  error_text(lambda: glm.fit(**glm.shard_rows(X_bad, y), family=glm.Poisson()))],
    }

    # Batched fits sharded along the batch axis: 4 responses against one X, checked
    # against one fit per response (which reuse the compiled Poisson fit).
    rng = np.random.default_rng(2)
    ys = rng.poisson(np.exp(X @ np.array([0.3, 0.1, -0.2, 0.1]) + offset), size=(4, X.shape[0])).astype(float)
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ("batch",))
    ys_sharded = jax.device_put(ys, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch")))
    coef_sharded = jax.jit(jax.vmap(lambda y: glm.fit(X, y, glm.Poisson(), offset=offset).coef))(ys_sharded)
    out["batch"] = {
        "sharded": np.asarray(coef_sharded).tolist(),
        "single": [np.asarray(glm.fit(X, y, glm.Poisson(), offset=offset).coef).tolist() for y in ys],
        "devices_holding_coef": len(coef_sharded.sharding.device_set),
    }
    return out


def run_one_process(process_id: int, port: int) -> dict:
    """One of two jax.distributed processes, each with 2 devices and about half of the rows of a weighted
    logistic regression."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2, process_id=process_id,
                               initialization_timeout=60)
    X, y, weights = logistic_data()
    mine = slice(0, 401) if process_id == 0 else slice(401, None)  # uneven halves: each block is padded
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = glm.shard_rows(X[mine], y[mine], weights[mine])
    result = glm.fit(**data, family=glm.Bernoulli())
    return {
        "process_count": jax.process_count(),
        "global_devices": jax.device_count(),
        "X_fully_addressable": data.X.is_fully_addressable,
        "global_rows": data.X.shape[0],
        "n_padded": data.n_padded,
        "warned": len(caught),
        **summary(result),
    }


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    if sys.argv[1] == "devices":
        print(json.dumps(run_on_four_devices()))
    else:
        print(json.dumps(run_one_process(int(sys.argv[2]), int(sys.argv[3]))))
    sys.exit(0)


# --------------------------------------------------------------------------- the tests


def _environment(devices: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _script(*args: str) -> list[str]:
    return [sys.executable, str(pathlib.Path(__file__).resolve()), *args]


@pytest.fixture(scope="module")
def four_devices() -> dict:
    done = subprocess.run(_script("devices"), env=_environment(4), cwd=ROOT, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_sharded_poisson_with_offset_equals_the_single_device_fit(four_devices):
    assert four_devices["devices_holding_X"] == 4
    assert four_devices["eta_devices"] == 4
    assert_same_fit(four_devices["poisson"]["sharded"], four_devices["poisson"]["single"])


def test_rows_that_do_not_divide_are_padded_with_zero_weight_and_a_warning(four_devices):
    assert four_devices["n_padded"] == 2  # 1002 rows on 4 devices
    assert four_devices["sharded_shape"] == [1004, 4]
    assert four_devices["padded_weights"] == [1.0, 0.0, 0.0]
    (message,) = four_devices["padding_warnings"]
    assert "2 row(s) of weight 0" in message and "4 devices" in message
    # the fit ignores them: the same df_resid as on 1002 rows
    assert four_devices["poisson"]["sharded"]["df_resid"] == 1002 - 4
    assert four_devices["even"] == {"warnings": 0, "n_padded": 0, "weights": True}


def test_shard_rows_splats_into_fit_as_keywords(four_devices):
    assert four_devices["splats_as"] == ["X", "y", "weights", "offset", "trials"]


def test_the_irls_sums_are_all_reduces_and_x_is_never_gathered(four_devices):
    assert four_devices["all_reduce_in_hlo"]
    assert four_devices["gathers_of_X"] == []


def test_x_is_not_gathered_at_50000_rows_either(four_devices):
    # There XᵀWX would take the blocked layout, whose dynamic slices of the sharded
    # row axis made XLA all-gather X; a sharded fit takes one dot instead.
    assert four_devices["gathers_of_X_at_50000_rows"] == []


def test_a_rank_deficient_sharded_x_names_the_same_aliased_column(four_devices):
    rank = four_devices["rank_deficient"]
    aliased = [w for w in rank["sharded"]["warnings"] if "rank deficient" in w]
    assert aliased == [w for w in rank["single"]["warnings"] if "rank deficient" in w]
    assert "indices [4]" in aliased[0]
    assert rank["sharded"]["coef"][4] is None and rank["single"]["coef"][4] is None
    np.testing.assert_allclose(rank["sharded"]["coef"][:4], rank["single"]["coef"][:4], rtol=1e-10)


def test_bad_values_in_sharded_data_raise_the_host_message(four_devices):
    for name, (host, device) in four_devices["errors"].items():
        assert host != "no error", name
        assert device == host, name
    assert "first at rows [3, 997]" in four_devices["errors"]["y_nan"][0]


def test_batched_fits_sharded_along_the_batch_axis(four_devices):
    batch = four_devices["batch"]
    assert batch["devices_holding_coef"] == 4
    np.testing.assert_allclose(batch["sharded"], batch["single"], rtol=1e-10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_fit_a_sharded_logistic_regression_as_one_device(four_devices):
    if jax.__version_info__ < (0, 4, 27):
        pytest.skip("this jaxlib has no gloo CPU collectives (jax_cpu_collectives_implementation)")
    port = _free_port()
    env = _environment(2)
    processes = [subprocess.Popen(_script("process", str(i), str(port)), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=180)
            assert process.returncode == 0, stderr[-4000:]
            outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()

    for out in outputs:
        assert out["process_count"] == 2 and out["global_devices"] == 4
        assert not out["X_fully_addressable"]
        assert out["global_rows"] == 804 and out["n_padded"] == 3  # blocks of 402 rows: 1 + 2 of padding
        assert out["warned"] == 1
        assert_same_fit(out, four_devices["logistic_single"])


# --------------------------------------------------------------------------- in this process (one device)


def _host_and_device_messages(X, y, family, **kwargs):
    host = error_text(lambda: glm.fit(X, y, family, **kwargs))
    device_arrays = {k: (jnp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    arguments = {k: device_arrays.get(k) for k in ("weights", "offset", "exposure", "trials")}

    def on_device():
        sharding.validate_on_device(jnp.asarray(X), jnp.asarray(y), family, init=None, **arguments)
        sharding.design_gram_on_device(jnp.asarray(X), arguments["weights"])

    return host, error_text(on_device)


class _CappedCounts(glm.Poisson):
    """A user's family with one more support rule: the device checks must apply it."""

    def response_rules(self):
        return super().response_rules() + (SupportRule("y", "must be at most 100", lambda xp, v, rows: v > 100),)


class _NoSevens(glm.Poisson):
    """A user's family with a validate_response of its own: checked on the host."""

    def validate_response(self, y, trials=None):
        super().validate_response(y, trials)
        if np.any(np.asarray(y) == 7):
            raise ValueError("y: no sevens here")


@pytest.mark.parametrize(
    "family, row, value, kwargs",
    [
        (glm.Gaussian(), 2, np.inf, {}),
        (glm.Poisson(), 4, -1.0, {}),
        (glm.NegativeBinomial(alpha=0.5), 1, 0.5, {}),
        (glm.Bernoulli(), 3, 2.0, {}),
        (glm.Gamma(link="log"), 0, 0.0, {}),
        (glm.InverseGaussian(), 5, -2.0, {}),
        (glm.Tweedie(power=1.5), 6, -0.5, {}),
        (glm.Tweedie(power=3.0), 6, 0.0, {}),
        (glm.Binomial(), 2, 9.0, {"trials": 5.0}),
        (_CappedCounts(), 3, 101.0, {}),
        (_NoSevens(), 3, 7.0, {}),
        (glm.Binomial(), 2, 1.0, {"trials": np.r_[5.0, 5, 5, -1, 5, 5, 5, 5, 5, 5]}),
        (glm.Poisson(), None, None, {"weights": np.r_[1.0, 1, -1, 1, 1, 1, 1, 1, 1, 1]}),
        (glm.Poisson(), None, None, {"weights": np.zeros(10)}),
        (glm.Poisson(), None, None, {"offset": np.r_[0.0, np.nan, 0, 0, 0, 0, 0, 0, 0, 0]}),
        (glm.Poisson(), None, None, {"exposure": np.r_[1.0, 1, 1, 1, 1, 1, 1, 0, 1, 1]}),
        (glm.Poisson(), "X", np.nan, {}),
    ],
)
def test_device_checks_raise_the_host_message_for_every_rule(family, row, value, kwargs):
    # validate_on_device mirrors the families' validate_response rules: same rows, same text.
    X = np.column_stack([np.ones(10), np.linspace(0, 1, 10)])
    y = np.ones(10)
    if row == "X":
        X[7, 1] = value
    elif row is not None:
        y[row] = value
    host, device = _host_and_device_messages(X, y, family, **kwargs)
    assert host != "no error"
    assert device == host


def test_device_gram_finds_the_host_aliased_columns_also_when_squares_overflow():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(30), rng.normal(size=(30, 2)) * 1e200])
    X = np.column_stack([X, X[:, 1] * 3.0, rng.normal(size=30)])
    gram, tol = sharding.design_gram_on_device(jnp.asarray(X), None)
    assert np.all(np.isfinite(gram)) and tol == 1e-7
    from numpyro_glm.fit import _aliased_columns, _check_design

    assert _aliased_columns(gram, tol).tolist() == _check_design(X, np.ones(30, bool)).tolist() == [
        False, False, False, True, False]
