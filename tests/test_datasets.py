"""The shipped data sets: they load, carry their documented columns and sources, and fit as statsmodels fits them."""

import pathlib

import numpy as np
import pytest

from numpyro_glm import datasets

DATA_DIR = pathlib.Path(datasets.__file__).parent

DOCUMENTED_COLUMNS = {
    "fishing": ["site", "totabund", "density", "meandepth", "year", "period", "sweptarea"],
    "ships": ["type", "year", "period", "service", "incidents"],
    "birthwt": ["low", "age", "lwt", "race", "smoke", "ptl", "ht", "ui", "ftv", "bwt"],
}


def test_available_lists_every_shipped_csv():
    assert datasets.available() == sorted(p.stem for p in DATA_DIR.glob("*.csv")) == sorted(DOCUMENTED_COLUMNS)


@pytest.mark.parametrize("name", sorted(DOCUMENTED_COLUMNS))
def test_every_data_set_loads_with_its_documented_columns_and_metadata(name):
    data = datasets.load(name)
    assert data.names == DOCUMENTED_COLUMNS[name]
    n = data.n_rows
    assert all(np.shape(data[c]) == (n,) for c in data.names)
    for column in [data.response, *data.predictors] + ([data.exposure] if data.exposure else []):
        assert column in data
    assert data[data.response].dtype == np.float64 and np.all(np.isfinite(data[data.response]))
    assert data.description and data.source and data.family
    frame = datasets.load(name, as_frame=True)
    assert list(frame.columns) == DOCUMENTED_COLUMNS[name] and len(frame) == n
    assert frame.attrs["response"] == data.response
    assert (DATA_DIR / f"{name}.csv").stat().st_size < 200_000


@pytest.mark.parametrize("name", sorted(DOCUMENTED_COLUMNS))
def test_sources_md_records_origin_and_terms_of_each_data_set(name):
    sources = (DATA_DIR / "SOURCES.md").read_text()
    section = sources.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
    assert f"`{name}.csv`" in section
    assert "**Origin**" in section and "**Terms**" in section


def test_known_sizes_and_values():
    fishing = datasets.load("fishing")
    assert fishing.n_rows == 147 and fishing["totabund"].min() == 2
    ships = datasets.load("ships")
    assert ships.n_rows == 34 and ships["incidents"].sum() == 356  # MASS ships: 356 incidents in all
    assert set(ships["type"]) == set("ABCDE")
    birthwt = datasets.load("birthwt")
    assert birthwt.n_rows == 189 and birthwt["low"].sum() == 59
    assert set(birthwt["race"]) == {"white", "black", "other"}


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="unknown data set 'nope'; available: birthwt, fishing, ships"):
        datasets.load("nope")


def test_missing_column_is_a_value_error_naming_the_columns():
    with pytest.raises(ValueError, match="no column 'nope'.*totabund"):
        datasets.load("fishing")["nope"]


def test_read_csv_numbers_text_and_missing_cells(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("y,x,g\n1,0.5,a\n2,NA,b\n3,,a\n")
    data = datasets.read_csv(path, response="y")
    np.testing.assert_array_equal(data["y"], [1.0, 2.0, 3.0])
    assert np.isnan(data["x"][1:]).all() and data["g"].tolist() == ["a", "b", "a"]
    with pytest.raises(FileNotFoundError):
        datasets.read_csv(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="no column 'z'"):
        datasets.read_csv(path, response="z")
    path.write_text("y,x\n1,2\n3\n")
    with pytest.raises(ValueError, match="line 3 has 1 fields"):
        datasets.read_csv(path)


def _ships_design(data):
    """Treatment coding with the first level as reference (R's and patsy's default)."""
    columns, names = [np.ones(data.n_rows)], ["(Intercept)"]
    for factor in data.predictors:
        levels = sorted(set(data[factor]))
        for level in levels[1:]:
            columns.append((data[factor] == level).astype(float))
            names.append(f"{factor}[{level}]")
    return np.column_stack(columns), names


def test_poisson_fit_of_ships_with_exposure_matches_statsmodels():
    import jax

    sm = pytest.importorskip("statsmodels.api")
    import numpyro_glm as glm

    data = datasets.load("ships")
    X, names = _ships_design(data)
    y, service = data["incidents"], data["service"]
    ref = sm.GLM(y, X, family=sm.families.Poisson(), exposure=service).fit(tol=1e-12)
    assert jax.config.jax_enable_x64  # tests/conftest.py
    fit = glm.fit(X, y, glm.Poisson(), exposure=service)
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-6)
    np.testing.assert_allclose(fit.se, ref.bse, rtol=1e-6)
    np.testing.assert_allclose(fit.deviance, ref.deviance, rtol=1e-8)
    # McCullagh & Nelder's overdispersion: Pearson chi2 / df ≈ 1.69 on 25 df.
    assert ref.df_resid == 25 and abs(ref.pearson_chi2 / ref.df_resid - 1.69) < 0.01
