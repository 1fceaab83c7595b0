"""fit_streaming: the same numbers as fit on the same rows, read chunk by chunk.

Cheap on purpose: n = 3,000, p = 4, chunks of 1,100 rows (the last one 800, so it
is padded), one compiled chunk function per family shared by the tests; one float32
fit (a compilation of its own, ~3 s) checks the single-precision path against the
float64 fit. benchmarks/scale.py runs float32 at scale (a float32 memmap).
"""

import numpy as np
import pytest

import numpyro_glm as glm
from numpyro_glm import Status

N, P, ROWS = 3_000, 4, 1_100


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = np.column_stack([np.ones(N), rng.standard_normal((N, P - 1))])
    eta = X @ np.array([0.3, 0.4, -0.3, 0.2])
    offset = rng.uniform(-0.5, 0.5, N)
    weights = rng.uniform(0.5, 2.0, N)
    weights[::50] = 0.0  # ignored rows
    return {
        "X": X,
        "poisson": rng.poisson(np.exp(eta + offset)).astype(float),
        "bernoulli": (rng.uniform(size=N) < 1 / (1 + np.exp(-eta))).astype(float),
        "gamma": rng.gamma(2.0, np.exp(eta) / 2.0),
        "offset": offset,
        "weights": weights,
    }


def _chunks(*arrays, rows=ROWS):
    """A list of chunk tuples of ``rows`` rows (the last one shorter)."""
    return [tuple(None if a is None else a[i:i + rows] for a in arrays) for i in range(0, N, rows)]


CASES = {
    "poisson-offset": (glm.Poisson(), "poisson", False, True),
    "bernoulli-weights": (glm.Bernoulli(), "bernoulli", True, False),
    "gamma-log": (glm.Gamma(link="log"), "gamma", True, False),
}

FIELDS = ("coef", "se", "cov", "deviance", "null_deviance", "pearson_chi2", "loglik", "aic", "bic", "dispersion",
          "df_resid", "df_model")


@pytest.fixture(scope="module")
def fits(data):
    """``fit`` on all rows, per case, computed once (each is a compilation)."""
    cache = {}

    def get(case):
        if case not in cache:
            family, response, use_weights, use_offset = CASES[case]
            cache[case] = glm.fit(data["X"], data[response], family, weights=data["weights"] if use_weights else None,
                                  offset=data["offset"] if use_offset else None)
        return cache[case]

    return get


@pytest.mark.parametrize("case", list(CASES))
def test_streamed_fit_equals_fit_on_the_same_rows(data, fits, case):
    family, response, use_weights, use_offset = CASES[case]
    X, y = data["X"], data[response]
    weights = data["weights"] if use_weights else None
    offset = data["offset"] if use_offset else None
    expected = fits(case)
    result = glm.fit_streaming(_chunks(X, y, weights, offset), family)
    for field in FIELDS:
        np.testing.assert_allclose(getattr(result, field), getattr(expected, field), rtol=1e-10, atol=1e-12,
                                   err_msg=field)
    assert int(result.n_iter) == int(expected.n_iter)
    assert int(result.status) == int(expected.status) == Status.CONVERGED
    assert bool(result.converged)
    assert result.eta.shape == result.mu.shape == (0,)
    # The usual methods work without the rows.
    np.testing.assert_allclose(result.predict(X[:5], offset=offset if offset is None else offset[:5]),
                               expected.predict(X[:5], offset=offset if offset is None else offset[:5]), rtol=1e-10)
    assert result.conf_int().shape == (P, 2)
    assert "Null deviance" in str(result.summary())


def test_memmap_read_by_a_callable_per_pass(data, fits, tmp_path):
    X, y, offset = data["X"], data["poisson"], data["offset"]
    path = tmp_path / "X.f64"
    np.memmap(path, np.float64, "w+", shape=X.shape)[:] = X

    def read():  # a fresh memmap per chunk: its pages are unmapped once the chunk is used
        for start in range(0, N, ROWS):
            rows = slice(start, min(start + ROWS, N))
            X_rows = np.memmap(path, np.float64, "r", offset=start * P * 8, shape=(rows.stop - start, P))
            yield X_rows, y[rows], None, offset[rows]

    result = glm.fit_streaming(read, glm.Poisson(), prefetch=1)
    expected = fits("poisson-offset")
    np.testing.assert_allclose(result.coef, expected.coef, rtol=1e-10)
    np.testing.assert_allclose(result.se, expected.se, rtol=1e-10)


def test_one_shot_generator_is_refused_with_the_remedy(data):
    X, y = data["X"], data["poisson"]
    generator = ((X[i:i + ROWS], y[i:i + ROWS]) for i in range(0, N, ROWS))
    with pytest.raises(ValueError, match="one-shot.*callable"):
        glm.fit_streaming(generator, glm.Poisson())


def test_iterable_that_changes_between_passes_is_refused(data):
    X, y = data["X"], data["poisson"]

    class OnlyOnce:
        used = False

        def __iter__(self):
            chunks = [] if self.used else _chunks(X, y)
            self.used = True
            return iter(chunks)

    with pytest.raises(ValueError, match="same data on every pass.*callable"):
        glm.fit_streaming(OnlyOnce(), glm.Poisson())


def test_bad_chunks_are_named_with_their_rows(data):
    X, y = data["X"], data["poisson"]
    chunks = _chunks(X.copy(), y)
    chunks[1][0][[5, 9]] = np.nan
    with pytest.raises(ValueError, match=r"chunk 1 .*X must be finite.*rows \[5, 9\]"):
        glm.fit_streaming(chunks, glm.Poisson())
    negative = _chunks(X, y.copy())
    negative[2][1][3] = -1.0
    with pytest.raises(ValueError, match=r"chunk 2 .*y must be non-negative.*rows \[3\]"):
        glm.fit_streaming(negative, glm.Poisson())
    narrow = _chunks(X, y)
    narrow[2] = (X[:10, :2], y[:10])
    with pytest.raises(ValueError, match="chunk 2: X has 2 columns, but the first chunk has 4"):
        glm.fit_streaming(narrow, glm.Poisson())
    short = _chunks(X, y)
    short[1] = (X[:10], y[:9])
    with pytest.raises(ValueError, match=r"chunk 1: y must have shape \(10,\)"):
        glm.fit_streaming(short, glm.Poisson())
    with pytest.raises(ValueError, match="fixed alpha"):
        glm.fit_streaming(_chunks(X, y), glm.NegativeBinomial())


def test_max_iter_one_is_not_converged(data):
    X, y = data["X"], data["poisson"]
    with pytest.warns(UserWarning, match="did not converge"):
        result = glm.fit_streaming(_chunks(X, y), glm.Poisson(), max_iter=1)
    assert int(result.status) == Status.MAX_ITER and not bool(result.converged)
    assert int(result.n_iter) == 1
    assert np.all(np.isfinite(result.coef))


def test_aliased_column_is_nan_and_the_rest_is_the_fit_without_it(data, fits):
    X, y, offset = data["X"], data["poisson"], data["offset"]
    aliased = np.column_stack([X, X[:, 1] - X[:, 2]])  # the last column is aliased, as R's NA
    with pytest.warns(UserWarning, match="rank deficient"):
        result = glm.fit_streaming(lambda: iter(_chunks(aliased, y, None, offset)), glm.Poisson())
    expected = fits("poisson-offset")
    np.testing.assert_allclose(result.coef[:P], expected.coef, rtol=1e-10)
    np.testing.assert_allclose(result.se[:P], expected.se, rtol=1e-10)
    assert np.isnan(result.coef[P]) and np.isnan(result.se[P])
    assert float(result.df_resid) == float(expected.df_resid)
    np.testing.assert_allclose(result.null_deviance, expected.null_deviance, rtol=1e-10)


def test_binomial_trials_come_as_each_chunks_fifth_element(data):
    """Success counts out of per-row trials, as fit(..., trials=): the fifth element
    of every chunk, with weights and offset left as None."""
    X = data["X"]
    rng = np.random.default_rng(11)
    trials = rng.integers(1, 12, N).astype(float)
    successes = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-(X @ np.array([0.2, -0.5, 0.3, 0.1]))))).astype(float)
    expected = glm.fit(X, successes, glm.Binomial(), trials=trials)
    result = glm.fit_streaming(_chunks(X, successes, None, None, trials), glm.Binomial())
    for field in ("coef", "se", "deviance", "null_deviance", "loglik", "aic"):
        np.testing.assert_allclose(getattr(result, field), getattr(expected, field), rtol=1e-10, err_msg=field)
    with pytest.raises(ValueError, match="needs trials"):
        glm.fit_streaming(_chunks(X, successes), glm.Binomial())


def test_float32_chunks_give_the_float64_fit_to_single_precision(data, fits):
    """float32 chunks stay float32 (the sums too) and land within single precision of
    the float64 fit (measured: coefficients 4e-6, SEs 8e-7, deviance 3e-8): coefficients
    and SEs at rtol 1e-4, the deviances at 1e-6."""
    X, y, offset = data["X"], data["poisson"], data["offset"]
    chunks = _chunks(X.astype(np.float32), y.astype(np.float32), None, offset.astype(np.float32))
    result = glm.fit_streaming(chunks, glm.Poisson())
    expected = fits("poisson-offset")
    assert result.coef.dtype == np.float32
    assert int(result.status) == Status.CONVERGED
    np.testing.assert_allclose(result.coef, expected.coef, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.se, expected.se, rtol=1e-4)
    np.testing.assert_allclose(result.deviance, expected.deviance, rtol=1e-6)
    np.testing.assert_allclose(result.null_deviance, expected.null_deviance, rtol=1e-6)


def test_gamma_log_forms_its_gram_once_and_stops_polishing_when_a_step_changes_nothing(data, fits, monkeypatch):
    """Gamma-log's IRLS weights do not depend on μ: only the first pass forms XᵀWX (the
    later ones add up XᵀWz; the result is still fit's). And as in fit, the Newton
    polish takes a second step only if the first moved η by more than √ε on some row:
    here (n = 3,000) it moves 1,816 rows, so two steps; at n = 50,000 Fisher scoring
    is already that close, so one. Each evaluation is a pass over the data."""
    from numpyro_glm import streaming

    calls = []
    run = streaming._Stream.run

    def recording_run(self, *args, newton=False, **kwargs):
        forms_gram = self.fixed_gram is None
        sums = run(self, *args, newton=newton, **kwargs)
        calls.append((newton, forms_gram, float(sums.moved)))
        return sums

    monkeypatch.setattr(streaming._Stream, "run", recording_run)
    family = glm.Gamma(link="log")
    X, y, weights = data["X"], data["gamma"], data["weights"]
    result = glm.fit_streaming(_chunks(X, y, weights, None), family)
    np.testing.assert_allclose(result.coef, fits("gamma-log").coef, rtol=1e-10)
    gram_formed = [forms for newton, forms, _ in calls if not newton]
    assert gram_formed[0] and not any(gram_formed[1:])
    moved = [count for newton, _, count in calls if newton][1:]  # after the Hessian at β
    assert len(moved) == 2 and moved[0] > 0

    calls.clear()
    rng = np.random.default_rng(8)
    X_big = np.column_stack([np.ones(50_000), rng.standard_normal((50_000, P - 1))])
    y_big = rng.gamma(2.0, np.exp(X_big @ np.array([0.3, 0.4, -0.3, 0.2])) / 2.0)
    chunks = [(X_big[i:i + 10_000], y_big[i:i + 10_000]) for i in range(0, 50_000, 10_000)]
    result = glm.fit_streaming(chunks, family)
    np.testing.assert_allclose(result.coef, glm.fit(X_big, y_big, family).coef, rtol=1e-10)
    assert [count for newton, _, count in calls if newton][1:] == [0.0]
