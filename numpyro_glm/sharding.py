r"""Data sharded by rows across devices and processes: placing it, and checking it where it lies.

Use :func:`shard_rows` when one design matrix is too large for one device, or to
spread a fit over the devices you have (several GPUs, or the processes of a
``jax.distributed`` job). :func:`~numpyro_glm.fit` takes the sharded arrays as they
are: inside its jitted core XLA turns the row sums of IRLS (XᵀWX, Xᵀr, the
deviance) into all-reduces, so X is never gathered onto one device. At the public
boundary, ``fit`` checks sharded inputs with reductions on the devices that hold
them (this module's second half): only counts, the p × p Gram matrix XᵀX (for R's
aliased-column rule) and, when something is wrong, the first few bad rows come back
to the host.

Batched fits (a bootstrap, many responses against one X) need nothing from here:
shard the batch axis of the responses or weights and ``jax.vmap`` over ``fit``.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .families import Binomial, Family

__all__ = ["ShardedRows", "shard_rows"]

_MAX_ROWS_SHOWN = 5  # as fit's and the families' messages


class ShardedRows(NamedTuple):
    """Rows of a GLM placed on a mesh by :func:`shard_rows`.

    Unpack it as a tuple, or pass it to ``fit`` as keyword arguments:
    ``fit(**data, family=...)`` (``keys()`` lists the arguments of ``fit`` it holds).
    """

    X: jax.Array
    """Design matrix, shape (n + n_padded, p), sharded by rows."""
    y: jax.Array
    """Response, shape (n + n_padded,), sharded like the rows of X."""
    weights: jax.Array | None
    """Prior weights, shape (n + n_padded,), 0 on the padding rows; None when none were given and none were padded."""
    offset: jax.Array | None
    """Offset, shape (n + n_padded,), or None."""
    trials: jax.Array | None
    """Binomial trials, shape (n + n_padded,), or None."""
    n_padded: int
    """How many rows of weight 0 were appended (in all processes together) so that the rows divide evenly over
    the devices."""

    def keys(self):
        return ("X", "y", "weights", "offset", "trials")

    def __getitem__(self, key):
        return getattr(self, key) if isinstance(key, str) else tuple.__getitem__(self, key)


def shard_rows(X, y, weights=None, offset=None, *, trials=None, mesh: Mesh | None = None,
               axis_name: str = "rows") -> ShardedRows:
    """Place the rows of a GLM's data across devices: X, y, weights, offset (and trials) sharded by rows.

    Use it before :func:`~numpyro_glm.fit` when X is large: each device holds n / d
    rows, and ``fit`` runs where the rows are. The result is the same as on one
    device (to rounding of the all-reduced sums).

    When n is not a multiple of the number of devices d, rows are appended until it
    is: copies of the first row (valid for every family and keeping a constant
    column constant) with weight 0, which ``fit`` ignores (they are not counted in
    ``df_resid``, the deviance or the log-likelihood). A ``UserWarning`` says how
    many; ``n_padded`` records it. ``eta`` and ``mu`` of the fit then have the padded
    length.

    In a multi-process ``jax.distributed`` job (``jax.process_count() > 1``), every
    process calls ``shard_rows`` with its own rows (process-local arrays); the
    global arrays hold process 0's rows first, then process 1's, and so on, each
    block padded to the largest one's length rounded up to a multiple of the local
    device count.

    Args:
        X: design matrix, shape (n, p) (host array or ``jax.Array``).
        y: response, shape (n,).
        weights: prior weights, shape (n,) or scalar, or None.
        offset: shape (n,) or scalar, or None.
        trials: binomial trials, shape (n,) or scalar, or None.
        mesh: a 1-D :class:`jax.sharding.Mesh` (default: all ``jax.devices()``).
        axis_name: the mesh axis the rows are split over.

    Returns:
        A :class:`ShardedRows` (X, y, weights, offset, trials, n_padded) of
        ``jax.Array`` s with ``NamedSharding(mesh, PartitionSpec(axis_name))``, in the
        dtype of X (integers become the default float).

    Example:
        >>> import numpy as np, numpyro_glm as glm
        >>> X = np.column_stack([np.ones(8), np.arange(8.0) / 8])
        >>> y = np.array([0.0, 1, 1, 2, 1, 3, 2, 4])
        >>> data = glm.shard_rows(X, y)  # over every device (n = 8 divides 1, 2, 4, 8)
        >>> result = glm.fit(**data, family=glm.Poisson())
        >>> data.X.shape, bool(result.converged)
        ((8, 2), True)
    """
    if mesh is None:
        mesh = Mesh(np.asarray(jax.devices()), (axis_name,))
    if axis_name not in mesh.axis_names:
        raise ValueError(f"mesh has axes {mesh.axis_names}, not {axis_name!r}: pass axis_name= one of them")
    if len(mesh.axis_names) != 1:
        raise ValueError(f"shard_rows needs a 1-D mesh, got axes {mesh.axis_names}")
    rows = NamedSharding(mesh, P(axis_name))

    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D design matrix (n, p), got shape {X.shape}")
    n = X.shape[0]
    if n == 0:
        raise ValueError("X has no rows to shard")
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.dtype(jnp.result_type(float))
    columns = {"X": X.astype(dtype, copy=False)}
    for name, value in (("y", y), ("weights", weights), ("offset", offset), ("trials", trials)):
        if value is None:
            continue
        value = np.asarray(value, dtype)
        if value.ndim == 0 and name != "y":
            value = np.full(n, value, dtype)
        if value.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) like the rows of X, got {value.shape}")
        columns[name] = value

    multiprocess = jax.process_count() > 1
    if multiprocess:
        local_devices = sum(d.process_index == jax.process_index() for d in mesh.devices.flat)
        from jax.experimental import multihost_utils
        counts = np.asarray(multihost_utils.process_allgather(np.asarray(n))).reshape(-1)
        block = -(-int(counts.max()) // local_devices) * local_devices
        pad, n_padded = block - n, int(block * counts.size - counts.sum())
    else:
        devices = mesh.devices.size
        pad = n_padded = -n % devices
    if n_padded:
        columns.setdefault("weights", np.ones(n, dtype))
    if n_padded:
        warnings.warn(
            f"shard_rows: {n_padded} row(s) of weight 0 were appended (copies of the first row) so that the rows "
            f"divide evenly over the {mesh.devices.size} devices; ShardedRows.n_padded = {n_padded}",
            UserWarning,
            stacklevel=2,
        )

    def place(name, value):
        if multiprocess:
            if pad:
                fill = np.zeros((pad,), dtype) if name == "weights" else np.repeat(value[:1], pad, axis=0)
                value = np.concatenate([value, fill])
            return jax.make_array_from_process_local_data(rows, value)
        shape = (n + pad,) + value.shape[1:]
        return jax.make_array_from_callback(shape, rows, partial(_padded_block, value, name == "weights", n + pad))

    placed = {name: place(name, value) for name, value in columns.items()}
    return ShardedRows(placed["X"], placed["y"], placed.get("weights"), placed.get("offset"), placed.get("trials"),
                       n_padded)


def _padded_block(value: np.ndarray, zero_fill: bool, length: int, index: tuple) -> np.ndarray:
    """Rows ``index[0]`` of ``value`` extended to ``length`` rows (by 0, or by copies of row 0): one device's
    shard, built without a padded copy of the whole array."""
    start, stop, _ = index[0].indices(length)
    block = value[start:stop]
    missing = (stop - start) - block.shape[0]
    if missing > 0:
        fill = np.zeros((missing,) + value.shape[1:], value.dtype) if zero_fill else np.repeat(value[:1], missing, 0)
        block = np.concatenate([block, fill])
    return block


# --------------------------------------------------------------------------- checks where the data lie


def is_distributed(*arrays) -> bool:
    """Whether any argument is a concrete ``jax.Array`` spread over several devices or processes.

    ``fit`` checks such inputs on device (:func:`validate_on_device`,
    :func:`design_gram_on_device`) instead of copying them to the host.
    """
    return any(
        isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer)
        and (not a.is_fully_addressable or len(a.sharding.device_set) > 1)
        for a in arrays
    )


class _Check(NamedTuple):
    """One requirement on the rows of an argument, as ``fit`` or the family states it."""

    argument: str
    requirement: str
    family: str | None  # the family's name when the family's message is used (it shows the values), else None
    bad: Callable  # (value, arrays) -> boolean mask over the rows
    response: bool = False  # checked on the rows with positive weight only (as R)


def _response_checks(family: Family) -> list[_Check] | None:
    """The family's own support rules (``family.response_rules()``, the ones
    ``validate_response`` checks on the host, in its order) as device masks; None for a
    family whose ``validate_response`` is its own, whose rules cannot be known here."""
    if type(family).validate_response not in (Family.validate_response, Binomial.validate_response):
        return None
    return [_Check(rule.argument, rule.requirement, family.name, partial(_on_device, rule.bad), True)
            for rule in family.response_rules()]


def _on_device(bad: Callable, value, arrays):
    return bad(jnp, value, arrays)


def _checks(family: Family, present: frozenset) -> list[_Check]:
    """Every row check of ``fit``'s validation, in the order of ``fit._validate``."""
    checks = []
    if "weights" in present:
        checks += [
            _Check("weights", "must be finite", None, lambda v, a: ~jnp.isfinite(v)),
            _Check("weights", "must be non-negative", None, lambda v, a: v < 0),
            # Not a row check: one "bad row" when no weight is positive.
            _Check("weights", "are all zero: nothing to fit", None, lambda v, a: jnp.logical_not(jnp.any(v > 0))[None]),
        ]
    if "offset" in present:
        checks.append(_Check("offset", "must be finite", None, lambda v, a: ~jnp.isfinite(v)))
    if "exposure" in present:
        checks.append(_Check("exposure", "must be positive and finite", None, lambda v, a: ~jnp.isfinite(v) | (v <= 0)))
    return checks + (_response_checks(family) or [])


def _as_rows(arrays: dict, n: int, dtype) -> dict:
    return {k: jnp.broadcast_to(jnp.asarray(v, dtype), (n,)) for k, v in arrays.items()}


@partial(jax.jit, static_argnames=("family", "present", "n", "dtype"))
def _bad_counts(arrays, *, family, present, n, dtype):
    rows = _as_rows(arrays, n, dtype)
    active = rows["weights"] > 0 if "weights" in rows else jnp.ones(n, bool)
    counts = []
    for check in _checks(family, present):
        bad = check.bad(rows[check.argument], rows)
        counts.append(jnp.sum(bad & active if check.response else bad))
    return jnp.stack(counts)


@partial(jax.jit, static_argnames=("family", "present", "n", "dtype", "which"))
def _first_bad_rows(arrays, *, family, present, n, dtype, which):
    rows = _as_rows(arrays, n, dtype)
    check = _checks(family, present)[which]
    bad = check.bad(rows[check.argument], rows)
    if check.response and "weights" in rows:
        bad = bad & (rows["weights"] > 0)
    first = jnp.nonzero(bad, size=_MAX_ROWS_SHOWN, fill_value=-1)[0]
    return first, rows[check.argument][jnp.maximum(first, 0)]


def _fetch(x) -> np.ndarray:
    """A small device array on the host, also when it spans other processes' devices."""
    if x.is_fully_addressable or x.is_fully_replicated:
        return np.asarray(x)
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def _message(check: _Check, count: int, rows: np.ndarray, values: np.ndarray) -> str:
    # The wording of fit._bad_rows_message and families._raise_bad_rows, so that the
    # host and device paths raise the same text.
    shown = [int(r) for r in rows[:min(count, _MAX_ROWS_SHOWN)]]
    more = f" (and {count - len(shown)} more)" if count > len(shown) else ""
    head = f"{check.argument} {check.requirement}; {count} bad row(s), first at rows {shown}"
    if check.family is None:
        return head + more
    return f"{check.family} family: {head} with values {[float(v) for v in values[:len(shown)]]}{more}"


def _shape(argument: str, value, n: int):
    """``value`` as an array (kept on its devices if it is a ``jax.Array``), shape checked as ``fit`` does."""
    if value is None:
        return None
    if not isinstance(value, jax.Array):
        value = np.asarray(value, dtype=float)
    if value.ndim != 0 and value.shape != (n,):
        raise ValueError(f"{argument} must have shape ({n},) like y, got {value.shape}")
    return value


def validate_on_device(X, y, family: Family, weights, offset, exposure, trials, init) -> None:
    """``fit``'s checks of everything but X's values, as reductions on the devices holding the rows.

    Same checks, order and messages as ``fit._validate`` (row numbers are those of
    the arrays as passed). Only a vector of counts comes to the host, and the first
    bad rows and their values when a count is not 0.
    """
    from .fit import _check_init, _check_shapes  # here, not at the top: fit imports this module

    n, p = _check_shapes(X, y)
    arrays = {"y": _shape("y", y, n)}
    for argument, value in (("weights", weights), ("offset", offset), ("exposure", exposure), ("trials", trials)):
        value = _shape(argument, value, n)
        if value is not None:
            arrays[argument] = value
    if exposure is not None and family.link.name != "log":
        raise ValueError(f"exposure needs the log link (it enters as log(exposure) in the offset); "
                         f"the {family.name} family here has link {family.link.name!r}: use offset= instead")
    if isinstance(family, Binomial):
        if trials is None:
            raise ValueError("the binomial family needs trials= (the number of trials of each row)")
    elif trials is not None:
        raise ValueError(f"trials is only used by the binomial family, not by {family.name}")

    present = frozenset(arrays)
    options = dict(family=family, present=present, n=n, dtype=np.dtype(jnp.result_type(float)))
    checks = _checks(family, present)
    # No device check at all (a family with its own validate_response, no weights,
    # offset or exposure): nothing to reduce.
    counts = _fetch(_bad_counts(arrays, **options)) if checks else []
    for which, (check, count) in enumerate(zip(checks, counts)):
        if count:
            if check.requirement.startswith("are all zero"):
                raise ValueError("weights are all zero: nothing to fit")
            rows, values = (_fetch(a) for a in _first_bad_rows(arrays, which=which, **options))
            raise ValueError(_message(check, int(count), rows, values))
    if _response_checks(family) is None:
        _validate_response_on_host(family, arrays)

    _check_init(init, p)


def _validate_response_on_host(family: Family, arrays: dict) -> None:
    """A family with a validate_response of its own checks its response itself: y (a vector, not X) is gathered."""
    def host(value):
        return None if value is None else _fetch(value) if isinstance(value, jax.Array) else np.asarray(value)

    y, w, t = host(arrays["y"]), host(arrays.get("weights")), host(arrays.get("trials"))
    active = np.ones(y.shape, bool) if w is None else np.broadcast_to(w, y.shape) > 0
    family.validate_response(y[active], trials=None if t is None else np.broadcast_to(t, y.shape)[active])


@jax.jit
def _design_summary(X, weights):
    bad = ~jnp.all(jnp.isfinite(X), axis=1)
    rows = jnp.where((weights > 0)[:, None], X, 0.0).astype(jnp.result_type(float))
    gram = jnp.matmul(rows.T, rows, precision=jax.lax.Precision.HIGHEST)
    return jnp.sum(bad), gram


@jax.jit
def _scaled_gram(X, weights):
    rows = jnp.where((weights > 0)[:, None], X, 0.0).astype(jnp.result_type(float))
    scale = jnp.max(jnp.abs(rows), axis=0)
    rows = rows / jnp.where(scale > 0, scale, 1.0)
    return jnp.matmul(rows.T, rows, precision=jax.lax.Precision.HIGHEST)


@jax.jit
def _first_bad_design_rows(X):
    return jnp.nonzero(~jnp.all(jnp.isfinite(X), axis=1), size=_MAX_ROWS_SHOWN, fill_value=-1)[0]


def design_gram_on_device(X, weights) -> tuple[np.ndarray, float]:
    """Raise if X has a NaN or inf; else the Gram matrix XᵀX of the rows with positive weight, and its tolerance.

    The device twin of ``fit._check_design``: XᵀX (p × p) is all that comes to the
    host, where R's aliased-column rule runs on it (``fit._aliased_columns``). With
    float64 that rule's tolerance is R's 1e-7. In float32 (JAX's default precision)
    the Gram's rounding error (≈ √ε of a column's norm) exceeds 1e-7, so a column is
    called aliased below 10√ε ≈ 3.5e-3 instead.
    """
    if weights is None:
        weights = np.ones(X.shape[0], bool)
    elif not isinstance(weights, jax.Array):  # a host array enters the jit as replicated (also multi-process)
        weights = np.broadcast_to(np.asarray(weights, float), (X.shape[0],))
    else:
        weights = jnp.broadcast_to(weights, (X.shape[0],))
    n_bad, gram = _design_summary(X, weights)
    n_bad = int(_fetch(n_bad))
    if n_bad:
        rows = _fetch(_first_bad_design_rows(X))
        check = _Check("X", "must be finite (no NaN or inf)", None, None)
        raise ValueError(_message(check, n_bad, rows, rows))
    gram = _fetch(gram)
    if not np.all(np.isfinite(np.diagonal(gram))):  # finite, but squares overflow: rescale columns
        gram = _fetch(_scaled_gram(X, weights))
    tol = 1e-7 if gram.dtype == np.float64 else 10 * float(np.sqrt(np.finfo(gram.dtype).eps))
    return np.asarray(gram, np.float64), tol
