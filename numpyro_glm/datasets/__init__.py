"""Small real data sets shipped with numpyro_glm, and a CSV reader for your own.

Use them to try a model on real data without a download: ``load("fishing")`` is an
overdispersed count data set with an exposure (the demo's default), ``load("ships")``
a classic rate model with an exposure, ``load("birthwt")`` a binary outcome. Each CSV
lies beside this file; ``SOURCES.md`` gives its origin, citation and terms.

A data set comes back as a :class:`Dataset`: named NumPy columns (numbers as float64,
text as str arrays) plus what to fit (``response``, ``predictors``, ``exposure``,
``family``). ``as_frame=True`` gives a pandas DataFrame instead (pandas is imported
only then), with the same metadata in ``DataFrame.attrs``.

Example:
    >>> from numpyro_glm import datasets
    >>> datasets.available()
    ['birthwt', 'fishing', 'ships']
    >>> data = datasets.load("fishing")
    >>> data["totabund"].shape, data.response, data.exposure, data.family
    ((147,), 'totabund', 'sweptarea', 'negative_binomial')
"""

from __future__ import annotations

import csv
import dataclasses
import os
from importlib import resources

import numpy as np

__all__ = ["Dataset", "available", "load", "read_csv"]


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A table of named columns and what to fit to it.

    Columns are 1-D NumPy arrays of equal length: float64 for numeric columns, str
    for text (categorical) ones. Index it by name (``data["age"]``).
    """

    name: str
    """The data set's name (``load(name)``), or the CSV file's stem."""
    columns: dict
    """``{column name: array of shape (n,)}``, in the file's order."""
    description: str = ""
    """One paragraph: what a row is and what the columns mean."""
    response: str | None = None
    """The suggested response column."""
    predictors: tuple = ()
    """The suggested predictor columns (text columns are categorical)."""
    exposure: str | None = None
    """The exposure column (enters a log-link model as log(exposure)), or None."""
    family: str | None = None
    """The suggested family, a name for :func:`numpyro_glm.families.get`."""
    source: str = ""
    """Where the data come from (the full record is in ``SOURCES.md``)."""

    @property
    def names(self) -> list[str]:
        """Column names, in the file's order."""
        return list(self.columns)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, column: str) -> np.ndarray:
        try:
            return self.columns[column]
        except KeyError:
            raise ValueError(f"no column {column!r} in data set {self.name!r}; "
                             f"its columns are {', '.join(self.columns)}") from None

    def __contains__(self, column: str) -> bool:
        return column in self.columns

    def to_frame(self):
        """The columns as a pandas DataFrame; the metadata in its ``attrs``."""
        import pandas as pd

        frame = pd.DataFrame(self.columns)
        frame.attrs.update({k: getattr(self, k) for k in
                            ("name", "description", "response", "predictors", "exposure", "family", "source")})
        return frame

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, {self.n_rows} rows, columns={self.names}, response={self.response!r}, "
                f"exposure={self.exposure!r}, family={self.family!r})")


# What each shipped file is, and what to fit to it. SOURCES.md has the citations.
_REGISTRY = {
    "fishing": dict(
        description=(
            "Deep-sea fish counts at 147 trawl sites in the North-East Atlantic (Porcupine Seabight), "
            "1977-2002 (Bailey et al. 2008; Zuur, Hilbe & Ieno 2013). totabund: fish counted at the site; "
            "sweptarea: area swept by the trawl (m^2), the exposure; meandepth: mean depth of the site (m); "
            "period: 1977-1989 or 2000-2002 (before/after commercial deep-water fishing began); "
            "density = totabund / sweptarea (derived from the response: not a predictor); site, year."
        ),
        response="totabund", predictors=("meandepth", "period"), exposure="sweptarea",
        family="negative_binomial",
        source="R package COUNT (Hilbe), data set 'fishing'; Bailey et al. (2008) Proc. R. Soc. B 275:1965-1969",
    ),
    "ships": dict(
        description=(
            "Damage incidents of cargo ships (McCullagh & Nelder, section 6.3.2): one row per ship type "
            "(A-E), year of construction (1960-64 ... 1975-79) and period of operation (1960-74, 1975-79); "
            "incidents: number of damage incidents; service: aggregate months of service, the exposure. "
            "The 6 combinations with no service (structural zeros) are left out: 34 rows."
        ),
        response="incidents", predictors=("type", "year", "period"), exposure="service", family="poisson",
        source="McCullagh & Nelder, Generalized Linear Models (1983; 2nd ed. 1989), section 6.3.2; R package MASS 'ships'",
    ),
    "birthwt": dict(
        description=(
            "Risk factors of low birth weight: 189 births at Baystate Medical Center, Springfield, "
            "Massachusetts, 1986 (Hosmer & Lemeshow 1989). low: birth weight below 2.5 kg (1/0); age: mother's "
            "age (years); lwt: mother's weight at the last menstrual period (pounds); race: white, black, other; "
            "smoke: smoked during pregnancy (1/0); ptl: previous premature labours; ht: history of hypertension "
            "(1/0); ui: uterine irritability (1/0); ftv: physician visits in the first trimester; bwt: birth "
            "weight (g; defines low: not a predictor)."
        ),
        response="low", predictors=("age", "lwt", "race", "smoke", "ptl", "ht", "ui", "ftv"), exposure=None,
        family="bernoulli",
        source="Hosmer & Lemeshow (1989) Applied Logistic Regression, Wiley; R package MASS 'birthwt'",
    ),
}


def available() -> list[str]:
    """Names of the shipped data sets, sorted.

    Returns:
        A list of names for :func:`load`.

    Example:
        >>> from numpyro_glm import datasets
        >>> "fishing" in datasets.available()
        True
    """
    return sorted(_REGISTRY)


def _parse_columns(rows: list[list[str]], header: list[str], where: str) -> dict:
    """Columns from CSV rows: numeric where every non-missing cell parses as a float."""
    if len(set(header)) != len(header):
        raise ValueError(f"{where}: repeated column names in the header {header}")
    columns = {}
    for j, name in enumerate(header):
        cells = [row[j].strip() for row in rows]
        missing = [c in ("", "NA", "NaN", "nan", "null") for c in cells]
        try:
            columns[name] = np.array([np.nan if m else float(c) for c, m in zip(cells, missing)], dtype=np.float64)
        except ValueError:
            columns[name] = np.array(cells, dtype=str)
    return columns


def read_csv(path, *, name: str | None = None, response: str | None = None, predictors=None,
             exposure: str | None = None, family: str | None = None) -> Dataset:
    """Read a CSV file with a header row into a :class:`Dataset`.

    Use it to run your own table through the same code as the shipped data sets
    (``python -m numpyro_glm demo --data file.csv`` does). Columns whose every
    non-empty cell is a number become float64 (empty, ``NA`` and ``NaN`` cells become
    NaN); any other column stays text.

    Args:
        path: the CSV file (comma-separated, first row the column names).
        name: the data set's name (default: the file's stem).
        response, predictors, exposure, family: metadata to record; the columns must
            exist.

    Returns:
        A :class:`Dataset` with one array of shape (n,) per column.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: an empty file, rows of the wrong length, repeated or unknown
            column names.

    Example:
        >>> import pathlib, tempfile
        >>> from numpyro_glm import datasets
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "counts.csv"
        >>> _ = path.write_text("y,x,group\\n1,0.5,a\\n3,1.5,b\\n")
        >>> data = datasets.read_csv(path, response="y")
        >>> data["y"], data["group"]
        (array([1., 3.]), array(['a', 'b'], dtype='<U1'))
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    return _dataset_from_rows(rows, path, name or os.path.splitext(os.path.basename(path))[0],
                              dict(response=response, predictors=tuple(predictors or ()), exposure=exposure,
                                   family=family))


def _dataset_from_rows(rows, where: str, name: str, meta: dict) -> Dataset:
    if len(rows) < 2:
        raise ValueError(f"{where}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"{where}: line {i} has {len(row)} fields, the header has {len(header)}")
    columns = _parse_columns(rows[1:], header, where)
    wanted = [c for c in [meta.get("response"), meta.get("exposure"), *meta.get("predictors", ())] if c]
    unknown = [c for c in wanted if c not in columns]
    if unknown:
        raise ValueError(f"{where}: no column {', '.join(map(repr, unknown))}; the columns are {', '.join(header)}")
    return Dataset(name=name, columns=columns, **meta)


def load(name: str, as_frame: bool = False):
    """Load a shipped data set by name.

    Args:
        name: one of :func:`available` (``"fishing"``, ``"ships"``, ``"birthwt"``).
        as_frame: return a pandas DataFrame (metadata in ``.attrs``) instead of a
            :class:`Dataset`.

    Returns:
        A :class:`Dataset` (columns as arrays of shape (n,), plus ``description``,
        ``response``, ``predictors``, ``exposure``, ``family``, ``source``), or a
        DataFrame with as_frame=True.

    Raises:
        ValueError: an unknown name (the message lists the available ones).

    Example:
        >>> from numpyro_glm import datasets
        >>> data = datasets.load("birthwt")
        >>> data.n_rows, data.response, data.predictors[:3]
        (189, 'low', ('age', 'lwt', 'race'))
        >>> datasets.load("ships", as_frame=True).shape
        (34, 5)
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown data set {name!r}; available: {', '.join(available())}")
    text = resources.files(__name__).joinpath(f"{name}.csv").read_text(encoding="utf-8")
    rows = [row for row in csv.reader(text.splitlines()) if row]
    meta = _REGISTRY[name]
    dataset = _dataset_from_rows(rows, f"{name}.csv", name,
                                 dict(response=meta["response"], predictors=meta["predictors"],
                                      exposure=meta["exposure"], family=meta["family"]))
    dataset = dataclasses.replace(dataset, description=meta["description"], source=meta["source"])
    return dataset.to_frame() if as_frame else dataset
