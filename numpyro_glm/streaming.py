r"""``fit_streaming``: IRLS over data streamed in chunks, for data larger than memory.

Use it when X does not fit on the device (or in host memory): the rows arrive as
chunks from host arrays, a ``np.memmap`` or files, and each IRLS iteration reads
them once. Device memory is bounded by a few chunks, whatever n is.

**Algorithm.** The same as :func:`numpyro_glm.fit` (R's ``glm.fit``), with every
evaluation of a coefficient vector β made one *pass* over the chunks. A pass sums,
over the chunks, with one jitted function per chunk shape:

* the deviance Σ w d(y, μ), the count of rows with invalid η or μ, the Pearson χ²;
* XᵀWX and XᵀWz with W = w (dμ/dη)² / V(μ) and z = η − o + (y − μ)/(dμ/dη) at β,
  the normal equations of the *next* step (or, while polishing a non-canonical
  link, the observed Hessian and the score).

So an accepted step costs one pass; each step halving (non-finite deviance, invalid
η/μ, or a deviance that increased) costs one more. The convergence rule
|D − D_old|/(|D| + 0.1) < tol, the ridge fallback, the status codes and the two
Newton polishing steps of a non-canonical link are those of ``irls._solve``; the
first pass evaluates R's ``mustart`` (or ``init``) and checks every chunk. A final
pass at β̂ gives XᵀWX for the covariance, the log-likelihood at the ML dispersion
and the null deviance. The null model (intercept only) is the weighted mean of y
without an offset; with an offset it is a streamed IRLS of the intercept alone.

Chunks are read, checked, converted and placed on the device (``jax.device_put``)
in a background thread, ``prefetch`` chunks ahead of the device, so that host
reading and device compute overlap. The reader runs on into the next pass (the
data do not depend on β), so it may read up to ``prefetch`` chunks more than the
fit uses.
"""

from __future__ import annotations

import collections
import dataclasses
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import irls
from .families import Binomial, Family, Gaussian, NegativeBinomial
from .fit import _aliased_columns, _check_init, _check_rows, _expand_aliased, _ml_dispersion, _vector, _warn
from .irls import Status
from .results import GLMFit

__all__ = ["fit_streaming"]

_MAX_HALVINGS = 25  # irls.solve's default
_CHUNKS_IN_FLIGHT = 2  # chunks dispatched to the device ahead of the one being read
_NEWTON_STEPS = 2  # irls._newton_polish's default


# --------------------------------------------------------------------------- one pass, on device


class _Sums(NamedTuple):
    """What one pass adds up over every row (padding rows have weight 0 and add nothing)."""

    gram: jax.Array
    """XᵀWX at β (the negative observed Hessian in a Newton pass), shape (p, p)."""
    rhs: jax.Array
    """XᵀWz at β (the score Xᵀ ∂ℓ/∂η in a Newton pass), shape (p,)."""
    deviance: jax.Array
    """Σ w d(y, μ)."""
    invalid: jax.Array
    """Active rows whose η or μ is outside the link's or family's valid range."""
    at_edge: jax.Array
    """Chunks with μ numerically 0 or 1 on an active row (``irls._boundary_fit``)."""
    pearson: jax.Array
    """Σ w (y − μ)² / V(μ)."""
    sum_w: jax.Array
    """Σ w over active rows (w on the mean's scale: binomial w·trials)."""
    sum_wy: jax.Array
    """Σ w y (y on the mean's scale): with ``sum_w``, the null model's mean."""
    sum_w_eta: jax.Array
    """Σ w (η − o): with ``sum_w``, the start of the null model's IRLS (as ``fit``)."""
    sum_prior_w: jax.Array
    """Σ of the prior weights over active rows (for the ML dispersion)."""
    n_active: jax.Array
    """Rows with positive weight."""
    loglik: jax.Array
    """Σ log p(y | μ, φ_ML) (finishing pass only, else 0)."""
    null_deviance: jax.Array
    """Deviance of the null model (finishing pass only, else 0)."""
    moved: jax.Array
    """Active rows whose η moved by more than √ε·(1 + |η|) from ``reference``'s
    (Newton passes only, else 0; ``irls._eta_moved``, the polish's stop rule)."""


class _Controls(NamedTuple):
    """What a pass evaluates (traced, so that one compiled function serves every pass)."""

    mustart: jax.Array
    """Evaluate at R's ``mustart`` instead of at β (the first pass without ``init``)."""
    newton: jax.Array
    """Newton products (observed Hessian, score) instead of the IRLS ones."""
    finish: jax.Array
    """Also the log-likelihood at ``phi`` and the null deviance."""
    phi: jax.Array
    """The ML dispersion for the log-likelihood."""
    null_coef: jax.Array
    """The null model's β, shape (p,): μ₀ = g⁻¹(Xβ₀ + o) unless ``null_mean`` is used."""
    null_mean: jax.Array
    """The null model's constant μ (no offset, an intercept in X)."""
    null_uses_mean: jax.Array
    """Whether μ₀ is ``null_mean``."""
    gram: jax.Array
    """Form XᵀWX (else only XᵀWz: for a family whose W does not depend on μ, once
    one pass has formed it; see ``irls.constant_weights``)."""
    reference: jax.Array
    """β before the Newton step being evaluated, shape (p,) (see ``_Sums.moved``)."""


def _starting_mu(family: Family, y_mean, weights):
    """R's ``mustart`` on the mean's scale, as ``irls._solve`` takes it."""
    if isinstance(family, Binomial):
        return family.starting_mu(y_mean, weights, trials=jnp.ones_like(y_mean))
    return family.starting_mu(y_mean, weights)


@partial(jax.jit, static_argnames=("family",))
def _accumulate(sums: _Sums, coef, controls: _Controls, X, y, weights, offset, trials, *, family: Family) -> _Sums:
    """``sums`` plus one chunk's contribution at β = ``coef`` (shape (p,)); X is (m, p)."""
    dtype = X.dtype
    y_mean, w = irls._mean_scale(family, y, weights, trials)
    active = w > 0
    mu_start = jnp.asarray(_starting_mu(family, y_mean, w), dtype)
    eta = jnp.where(controls.mustart, family.link(mu_start), X @ coef + offset)
    mu = jnp.where(controls.mustart, mu_start, family.link.inverse(eta))
    row_valid = family.link.valid_eta(eta) & family.valid_mu(mu)

    fixed_w = irls.constant_weights(family, w)  # static: None unless W does not depend on μ

    def irls_products():
        z = irls.working_response(family, eta, mu, y_mean, w, offset)
        if fixed_w is None:
            gram, rhs = irls._weighted_products(X, irls.working_weights(family, eta, mu, w), z)
        else:
            gram, rhs = lax.cond(controls.gram, lambda: irls._weighted_products(X, fixed_w, z),
                                 lambda: (jnp.zeros((X.shape[1],) * 2, dtype), irls._transpose_times(X, fixed_w * z)))
        return gram, rhs, jnp.zeros((), dtype)

    def newton_products():
        d1, d2 = irls._row_derivatives(family, eta, y_mean, w)
        moved = jnp.sum(irls._eta_moved(eta, X @ controls.reference + offset, active))
        return -irls._weighted_gram(X, d2), irls._transpose_times(X, d1), moved.astype(dtype)

    def finishing():
        try:
            log_prob = family.log_prob(y, mu, controls.phi, weights=weights, trials=trials)
        except NotImplementedError:  # e.g. Tweedie with p > 2, p != 3 (as fit: R's AIC is NA)
            log_prob = jnp.full_like(mu, jnp.nan)
        mu_null = jnp.where(controls.null_uses_mean, controls.null_mean,
                            family.link.inverse(X @ controls.null_coef + offset))
        return jnp.sum(jnp.where(active, log_prob, 0.0)), irls._deviance(family, y_mean, mu_null, w)

    gram, rhs, moved = lax.cond(controls.newton, newton_products, irls_products)
    zero = jnp.zeros((), dtype)
    loglik, null_deviance = lax.cond(controls.finish, finishing, lambda: (zero, zero))
    chunk = _Sums(
        gram=gram,
        rhs=rhs,
        deviance=irls._deviance(family, y_mean, mu, w),
        invalid=jnp.sum(active & ~row_valid).astype(dtype),
        at_edge=irls._boundary_fit(family, mu, w).astype(dtype),
        pearson=jnp.sum(jnp.where(active, w * jnp.square(y_mean - mu) / family.variance(mu), 0.0)),
        sum_w=jnp.sum(jnp.where(active, w, 0.0)),
        sum_wy=jnp.sum(jnp.where(active, w * y_mean, 0.0)),
        sum_w_eta=jnp.sum(jnp.where(active, w * (eta - offset), 0.0)),
        sum_prior_w=jnp.sum(jnp.where(active, weights, 0.0)),
        n_active=jnp.sum(active).astype(dtype),
        loglik=loglik,
        null_deviance=null_deviance,
        moved=moved,
    )
    return jax.tree.map(jnp.add, sums, chunk)


@jax.jit
def _solve_normal_equations(gram, rhs, ridge):
    """β from gram·β = rhs by Cholesky (with irls' tiny ridge where ``ridge``)."""
    return irls._cholesky_solve(irls._ridge(gram, ridge), rhs)


# --------------------------------------------------------------------------- reading chunks, on the host


class _Chunk(NamedTuple):
    """One chunk on the device, padded to the fixed row count (weights 0 on padding)."""

    X: jax.Array
    y: jax.Array
    weights: jax.Array
    offset: jax.Array
    trials: jax.Array | None


@dataclasses.dataclass
class _PassEnd:
    """Sent after a pass's last chunk: what the reader learned in that pass."""

    rows: int
    chunks: int
    has_offset: bool = False
    gram64: np.ndarray | None = None  # XᵀX over active rows, float64 (first pass only)
    constant: np.ndarray | None = None  # columns constant over all rows (first pass only)
    first_row: np.ndarray | None = None


@dataclasses.dataclass
class _Failure:
    error: BaseException


class _Reader:
    """Turns ``chunks`` into padded device chunks, pass after pass, checking the first pass."""

    def __init__(self, open_pass: Callable[[], Iterable], family: Family):
        self.open_pass = open_pass
        self.family = family
        self.rows = self.p = self.dtype = None  # fixed by the first chunk
        self._cache: dict[tuple, jax.Array] = {}

    def passes(self, stop: threading.Event):
        """Every item of every pass: _Chunk ..., _PassEnd, _Chunk ..., _PassEnd, ..."""
        pass_index = 0
        while not stop.is_set():
            iterator = iter(self.open_pass())
            try:
                yield from self._one_pass(iterator, pass_index)
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
            pass_index += 1

    def _one_pass(self, iterator, pass_index: int):
        first = pass_index == 0
        end = _PassEnd(rows=0, chunks=0)
        for index, chunk in enumerate(iterator):
            X, y, weights, offset, trials = self._unpack(index, chunk)
            n = X.shape[0]
            if first:
                try:
                    self._check(X, y, weights, offset, trials, end)
                except ValueError as error:
                    raise ValueError(f"chunks: chunk {index} (data rows {end.rows}..{end.rows + n - 1}; rows "
                                     f"below count from 0 within the chunk): {error}") from None
            end.has_offset |= offset is not None
            end.rows += n
            end.chunks += 1
            for start in range(0, n, self.rows):  # a chunk longer than the first is cut
                stop = min(start + self.rows, n)
                yield self._place(*(None if a is None else a[start:stop] for a in (X, y, weights, offset, trials)))
        yield end

    def _unpack(self, index: int, chunk):
        if not isinstance(chunk, (tuple, list)) or not 2 <= len(chunk) <= 5:
            raise ValueError(f"chunks: chunk {index} must be a tuple (X, y[, weights[, offset[, trials]]]) of "
                             f"arrays, got {type(chunk).__name__}"
                             + (f" of length {len(chunk)}" if isinstance(chunk, (tuple, list)) else ""))
        X, y, weights, offset, trials = (*chunk, None, None, None)[:5]
        X = np.asarray(X)
        where = f"chunks: chunk {index}"
        if X.ndim != 2:
            raise ValueError(f"{where}: X must be a 2-D array (rows, p), got shape {X.shape}")
        if self.p is None:
            if X.shape[0] == 0 or X.shape[1] == 0:
                raise ValueError(f"{where}: the first chunk must have at least one row and one column, "
                                 f"got shape {X.shape}")
            self.rows, self.p = X.shape
            kind = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
            self.dtype = np.dtype(jax.dtypes.canonicalize_dtype(kind))
        if X.shape[1] != self.p:
            raise ValueError(f"{where}: X has {X.shape[1]} columns, but the first chunk has {self.p}")
        n = X.shape[0]
        y = np.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"{where}: y must have shape ({n},), one entry per row of X, got {y.shape}")
        try:
            weights, offset, trials = (_vector(name, value, n) for name, value in
                                       (("weights", weights), ("offset", offset), ("trials", trials)))
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        if isinstance(self.family, Binomial) and trials is None:
            raise ValueError(f"{where}: the binomial family needs trials, the fifth element of each chunk "
                             "(X, y, weights, offset, trials); weights and offset may be None")
        if not isinstance(self.family, Binomial) and trials is not None:
            raise ValueError(f"{where}: trials (a chunk's fifth element) is only used by the binomial family, "
                             f"not by {self.family.name}")
        return X, y, weights, offset, trials

    def _check(self, X, y, weights, offset, trials, end: _PassEnd):
        """The checks of ``fit`` on one chunk, and its share of XᵀX and of the constant columns."""
        _check_rows("X", ~np.all(np.isfinite(X), axis=1), "must be finite (no NaN or inf)")
        if weights is not None:
            _check_rows("weights", ~np.isfinite(weights), "must be finite")
            _check_rows("weights", weights < 0, "must be non-negative")
        if offset is not None:
            _check_rows("offset", ~np.isfinite(offset), "must be finite")
        active = np.ones(X.shape[0], bool) if weights is None else weights > 0
        # Rows with zero weight are ignored, so their response is not checked (as fit);
        # they are set to 1 (in every family's support) so that the rows named stay the chunk's.
        y_active = np.where(active, np.asarray(y, float), 1.0)
        self.family.validate_response(y_active, trials=None if trials is None else np.where(active, trials, 1.0))
        rows = np.asarray(X if active.all() else X[active], np.float64)
        gram = rows.T @ rows
        end.gram64 = gram if end.gram64 is None else end.gram64 + gram
        if end.first_row is None:
            end.first_row = np.array(X[0], np.float64)
            end.constant = np.ones(self.p, bool)
        end.constant &= np.all(X == end.first_row.astype(X.dtype), axis=0)

    def _place(self, X, y, weights, offset, trials) -> _Chunk:
        """Pad to ``self.rows`` rows and copy to the device (the read happens here)."""
        m, rows, dtype = X.shape[0], self.rows, self.dtype

        def vector(values, fill, pad_value):
            if values is None and m == rows:
                return self._constant(fill)  # cached on the device: no transfer
            out = _aligned((rows,), dtype)
            out[m:] = pad_value
            out[:m] = fill if values is None else values
            return self._put(out)

        padded = _aligned((rows, self.p), dtype)
        padded[m:] = 0.0
        np.copyto(padded[:m], X, casting="unsafe")  # the read of a memmap's pages happens here
        # Padding rows: weight 0, y = 1 and trials = 1 (valid in every family), offset 0.
        return _Chunk(
            self._put(padded),
            vector(y, 1.0, 1.0),
            vector(weights, 1.0, 0.0),
            vector(offset, 0.0, 0.0),
            None if trials is None else vector(trials, 1.0, 1.0),
        )

    def _constant(self, value: float) -> jax.Array:
        key = (value, self.rows)
        if key not in self._cache:
            self._cache[key] = self._put(np.full(self.rows, value, self.dtype))
        return self._cache[key]

    @staticmethod
    def _put(array: np.ndarray) -> jax.Array:
        # ``array`` is the reader's own fresh copy, so the device may alias it (no
        # second copy on CPU). A caller's buffer is never aliased: it may be a file
        # reader's reused buffer, and XLA:CPU aliases even a read-only memmap (whose
        # pages would then be read by the computation, not by this thread).
        return jax.device_put(array, may_alias=True).block_until_ready()


def _aligned(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous array on a 64-byte boundary (XLA:CPU takes it without a copy)."""
    size = int(np.prod(shape))
    buffer = np.empty(size + 64 // dtype.itemsize, dtype)
    start = (-buffer.ctypes.data % 64) // dtype.itemsize
    return buffer[start:start + size].reshape(shape)


class _Prefetch:
    """The reader's items through a queue ``depth`` deep, filled by a background thread.

    ``depth=0`` reads in the caller's thread (no overlap).
    """

    def __init__(self, reader: _Reader, depth: int):
        self._stop = threading.Event()
        self._items = reader.passes(self._stop)
        self._thread = None
        if depth > 0:
            self._queue: queue.Queue = queue.Queue(maxsize=depth)
            self._thread = threading.Thread(target=self._fill, name="fit_streaming reader", daemon=True)
            self._thread.start()

    def _fill(self):
        try:
            for item in self._items:
                if not self._offer(item):
                    return
        except BaseException as error:  # noqa: BLE001 (handed to the caller's thread)
            self._offer(_Failure(error))
        finally:
            self._items.close()

    def _offer(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def next(self):
        if self._thread is None:
            return next(self._items)
        item = self._queue.get()
        if isinstance(item, _Failure):
            raise item.error
        return item

    def close(self):
        self._stop.set()
        if self._thread is None:
            self._items.close()
            return
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()


# --------------------------------------------------------------------------- the driver


class _Stream:
    """Runs passes: one call of :meth:`run` streams the chunks once."""

    def __init__(self, prefetch: _Prefetch, reader: _Reader, family: Family):
        self.prefetch, self.reader, self.family = prefetch, reader, family
        self.first: _PassEnd | None = None
        self.passes = 0
        self._pending: _Chunk | None = None
        # XᵀWX once formed, for a family whose W does not depend on μ (as irls._solve):
        # later IRLS passes then add up only XᵀWz.
        self.fixed_gram: np.ndarray | None = None
        self.fixed = irls._constant_working_weights(family)

    def peek(self) -> _Chunk:
        """The first chunk (fixes p, the row count and the dtype)."""
        if self._pending is None:
            item = self.prefetch.next()
            if isinstance(item, _PassEnd):
                raise ValueError("chunks yielded no rows")
            self._pending = item
        return self._pending

    def run(self, coef=None, *, newton=False, finish=False, phi=1.0, null_coef=None, null_mean=None,
            reference=None) -> _Sums:
        """One pass at β = ``coef`` (shape (p,); None: at ``mustart``); host NumPy sums.

        ``reference``: in a Newton pass, the β whose η ``_Sums.moved`` compares with.
        """
        item = self.peek() if self.first is None else self._pending or self.prefetch.next()
        p, dtype = self.reader.p, self.reader.dtype
        mustart = coef is None
        coef = np.zeros(p, dtype) if mustart else np.asarray(coef, dtype)
        controls = _Controls(
            *(jnp.asarray(flag) for flag in (mustart, newton, finish)),
            jnp.asarray(phi, dtype),
            jnp.asarray(np.zeros(p, dtype) if null_coef is None else null_coef, dtype),
            jnp.asarray(0.0 if null_mean is None else null_mean, dtype),
            jnp.asarray(null_mean is not None),
            jnp.asarray(newton or self.fixed_gram is None),
            jnp.asarray(coef if reference is None else reference, dtype),
        )
        sums = _Sums(jnp.zeros((p, p), dtype), jnp.zeros(p, dtype), *(jnp.zeros((), dtype) for _ in range(12)))
        coef = jnp.asarray(coef)
        self._pending = None
        # JAX dispatches asynchronously: unchecked, this loop would run ahead of the
        # device and keep every chunk of the pass alive in pending computations (at
        # n = 2e7 the resident set grew to the file's size). Waiting for the sums of
        # the chunk two back keeps at most three chunks in flight.
        in_flight = collections.deque()
        while not isinstance(item, _PassEnd):
            sums = _accumulate(sums, coef, controls, *item, family=self.family)
            in_flight.append(sums.deviance)
            if len(in_flight) > _CHUNKS_IN_FLIGHT:
                in_flight.popleft().block_until_ready()
            item = self.prefetch.next()
        self._check_pass(item)
        self.passes += 1
        sums = _Sums(*(np.asarray(leaf) for leaf in jax.device_get(sums)))
        if self.fixed and not newton:
            if self.fixed_gram is None:
                self.fixed_gram = sums.gram
            sums = sums._replace(gram=self.fixed_gram)
        return sums

    def _check_pass(self, end: _PassEnd):
        if self.first is None:
            self.first = end
        elif (end.rows, end.chunks) != (self.first.rows, self.first.chunks):
            raise ValueError(
                f"chunks must yield the same data on every pass: pass {self.passes} yielded {end.chunks} chunk(s) "
                f"with {end.rows} rows, the first pass {self.first.chunks} with {self.first.rows}. Pass a callable "
                "that returns a fresh iterable of the chunks (e.g. `lambda: read_chunks(path)`), or a list"
            )


def _finite(x) -> bool:
    return bool(np.all(np.isfinite(x)))


def _streamed_irls(stream: _Stream, columns: np.ndarray, init, *, tol: float, max_iter: int, polish: bool,
                   start: _Sums | None = None):
    """``irls._solve``'s iterations, one pass per evaluation, over X's ``columns`` only.

    Coefficients outside ``columns`` are held at 0 (aliased columns; the null
    model's non-intercept columns). ``init`` None starts from ``mustart``;
    ``start``, if given, is the pass already made at that start.
    Returns (β over ``columns``, the sums of the pass at β, n_iter, status).
    """
    family, p, dtype = stream.family, stream.reader.p, stream.reader.dtype
    tol = dtype.type(tol)

    def full(coef):
        out = np.zeros(p, dtype)
        out[columns] = coef
        return out

    def products(sums):
        return sums.gram[np.ix_(columns, columns)], sums.rhs[columns]

    def solve(sums, ridge):
        return np.asarray(_solve_normal_equations(*products(sums), ridge))

    # From mustart there is no β to halve towards yet (NaN, as irls._solve).
    coef = np.full(columns.size, np.nan, dtype) if init is None else np.asarray(init, dtype)
    sums = start if start is not None else stream.run(None if init is None else full(coef))
    deviance = sums.deviance
    n_iter, status, ridge, blocked = 0, Status.MAX_ITER, False, False
    while n_iter < max_iter:
        proposal = solve(sums, ridge)
        singular = not _finite(proposal)
        if singular and not ridge:
            # A singular XᵀWX costs one iteration: stay, and retry with the ridge.
            n_iter, status, ridge, blocked = n_iter + 1, Status.RANK_DEFICIENT, True, False
            continue
        can_halve = _finite(coef)
        new = stream.run(full(proposal))
        blocked = can_halve and new.invalid > 0

        def is_bad(new):
            # Like R, only a non-finite or invalid fit is halved on the first step.
            increased = n_iter > 0 and (new.deviance - deviance) / (abs(new.deviance) + 0.1) > tol
            return not np.isfinite(new.deviance) or new.invalid > 0 or increased

        halvings = 0
        while can_halve and is_bad(new) and halvings < _MAX_HALVINGS:
            proposal = 0.5 * (proposal + coef)
            new = stream.run(full(proposal))
            halvings += 1
        # An increase that halving could not undo is accepted (rounding noise); a
        # non-finite or invalid fit is a failure, which keeps the last valid fit.
        failed = not np.isfinite(new.deviance) or new.invalid > 0 or singular
        n_iter += 1
        converged = bool(irls._relative_change(new.deviance, deviance) < tol)
        status = (Status.NON_FINITE if failed else Status.RANK_DEFICIENT if ridge
                  else Status.CONVERGED if converged else Status.MAX_ITER)
        if not (failed and can_halve):
            coef, sums, deviance = proposal, new, new.deviance
        ridge |= singular
        if failed or converged:
            break

    if polish and status == Status.CONVERGED and not irls._is_canonical(family):
        # irls._newton_polish: Newton steps on the observed Hessian, each kept only if
        # valid and the deviance does not increase (up to rounding), the next one only
        # if this one still moved η by more than √ε (relative) on some row.
        sums = stream.run(full(coef), newton=True)
        for _ in range(_NEWTON_STEPS):
            step = solve(sums, False)
            candidate = stream.run(full(coef + step), newton=True, reference=full(coef))
            not_worse = candidate.deviance <= deviance + 1e-12 * (abs(deviance) + 0.1)
            if not (_finite(step) and candidate.invalid == 0 and not_worse):
                break  # the next step would be the same one
            coef, sums, deviance = coef + step, candidate, candidate.deviance
            if candidate.moved == 0:
                break
    if status == Status.CONVERGED and sums.at_edge > 0:
        status = Status.SEPARATION
    if status == Status.CONVERGED and blocked:
        status = Status.BOUNDARY
    return coef, sums, n_iter, status


def _open_pass(chunks) -> Callable[[], Iterable]:
    if callable(chunks):
        return chunks
    if isinstance(chunks, Iterator):
        raise ValueError(
            "chunks is a one-shot iterator (a generator?): every IRLS iteration streams the chunks again, and "
            "a second pass over it would yield nothing. Pass a callable that returns a fresh iterable, e.g. "
            "`lambda: read_chunks(path)`, or a list of chunks"
        )
    return lambda: chunks


def fit_streaming(
    chunks: Callable[[], Iterable[tuple]] | Iterable[tuple],
    family: Family | None = None,
    *,
    tol: float = 1e-8,
    max_iter: int = 100,
    dispersion=None,
    init=None,
    prefetch: int = 2,
    coef_names=None,
) -> GLMFit:
    """Fit a GLM by IRLS on data streamed in chunks (for data larger than memory).

    Use it when X does not fit on the device: each iteration reads every chunk once
    and the device holds only a few chunks. On data that fit, :func:`~numpyro_glm.fit`
    is faster and also gives η, μ and gradients. The numbers are ``fit``'s (R's
    ``glm``): same starting values, convergence rule, step halving, dispersion,
    covariance and status.

    Args:
        chunks: a zero-argument callable returning a fresh iterable of chunks (called
            once per pass), or a re-iterable such as a list. Each chunk is a tuple
            ``(X, y[, weights[, offset[, trials]]])`` of NumPy arrays (in memory,
            ``np.memmap`` slices, read from files): X of shape (m, p), the others of
            shape (m,) (a scalar is broadcast; None for none). m may vary; every
            chunk is padded (with weight-0 rows) to the first chunk's m, and a longer
            one is cut, so one compiled function serves all. The dtype is the first
            chunk's X's (float32 or float64). ``trials`` is for
            :class:`~numpyro_glm.Binomial` only, which needs it.
        family: a :class:`~numpyro_glm.families.Family` (default Gaussian()).
            ``NegativeBinomial`` needs a fixed ``alpha``.
        tol: convergence tolerance on the relative change of the deviance.
        max_iter: most IRLS iterations.
        dispersion: None or "pearson" (R's default), "deviance", or a float.
        init: starting coefficients, shape (p,); default R's ``mustart``.
        prefetch: chunks read and placed on the device ahead of the computation by
            a background thread (0: read in the calling thread). Device memory holds
            about ``prefetch + 2`` chunks.
        coef_names: optional names, carried into ``summary()``.

    Returns:
        A :class:`~numpyro_glm.results.GLMFit` as from ``fit``, except that ``eta``
        and ``mu`` have shape (0,): the rows are not kept (compute them per chunk
        with ``result.predict(X_chunk, kind="link")`` / ``result.predict(X_chunk)``).
        ``predict``, ``summary``, ``conf_int`` and ``p_values`` work as usual;
        ``residuals`` needs μ, so call it on a ``fit`` of a chunk instead.

    Raises:
        ValueError: for a one-shot iterator (pass a callable), a chunk that is not
            a tuple of arrays, a chunk whose X has a different number of columns,
            mismatched lengths, non-finite values, a response outside the family's
            support or negative weights (naming the chunk and its first bad rows),
            chunks that change between passes, NegativeBinomial(alpha=None), or
            a binomial family without trials.

    Example:
        >>> import numpy as np, numpyro_glm as glm
        >>> X = np.column_stack([np.ones(6), np.arange(6.0)])
        >>> y = np.array([1.0, 0, 2, 3, 2, 5])
        >>> chunks = [(X[:4], y[:4]), (X[4:], y[4:])]  # the last one is short
        >>> result = glm.fit_streaming(chunks, glm.Poisson())
        >>> bool(result.converged), result.coef.shape
        (True, (2,))
    """
    family = Gaussian() if family is None else family
    if not isinstance(family, Family):
        raise ValueError(f"family must be a numpyro_glm Family (e.g. numpyro_glm.Poisson()), got {family!r}")
    if isinstance(family, NegativeBinomial) and family.estimates_alpha:
        raise ValueError("fit_streaming needs a fixed alpha: NegativeBinomial(alpha=None) estimates α, which "
                         "streaming does not support. Estimate α with fit() on a sample of the rows and pass "
                         "NegativeBinomial(alpha=...)")
    if isinstance(dispersion, str) and dispersion not in ("pearson", "deviance"):
        raise ValueError(f"dispersion must be None, 'pearson', 'deviance' or a float, got {dispersion!r}")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    if int(prefetch) < 0:
        raise ValueError(f"prefetch must be a non-negative number of chunks, got {prefetch}")
    if coef_names is not None:
        coef_names = tuple(str(name) for name in coef_names)
    reader = _Reader(_open_pass(chunks), family)
    prefetcher = _Prefetch(reader, int(prefetch))
    try:
        stream = _Stream(prefetcher, reader, family)
        stream.peek()
        p = reader.p
        init = _check_init(init, p)
        if coef_names is not None and len(coef_names) != p:
            raise ValueError(f"coef_names has {len(coef_names)} names for {p} columns of X")
        result, aliased = _fit(stream, family, init, float(tol), int(max_iter), dispersion, coef_names)
    finally:
        prefetcher.close()
    if aliased is not None:
        result = _expand_aliased(result, aliased)
    _warn(result, aliased, coef_names)
    return result


def _fit(stream: _Stream, family: Family, init, tol: float, max_iter: int, dispersion, coef_names):
    """The streamed fit once the first chunk has arrived: (GLMFit, aliased columns or None)."""
    p, dtype = stream.reader.p, stream.reader.dtype
    # The first pass checks every chunk; its XᵀX finds aliased columns as fit does.
    start = stream.run(None if init is None else init)
    first = stream.first
    if start.n_active == 0:
        raise ValueError("weights are all zero: nothing to fit")
    aliased = _aliased_columns(first.gram64) if _finite(first.gram64) else np.zeros(p, bool)
    columns = np.flatnonzero(~aliased)
    if init is not None and aliased.any():
        # As fit: the aliased columns' starting values are dropped (so η₀ changes: re-evaluate).
        init, start_pass = init[columns], None
    else:
        start_pass = start  # the checking pass was the start's evaluation
    coef, sums, n_iter, status = _streamed_irls(stream, columns, init, tol=tol, max_iter=max_iter, polish=True,
                                                start=start_pass)

    coef_full = np.zeros(p, dtype)
    coef_full[columns] = coef
    n_active = dtype.type(start.n_active)
    df_resid = n_active - columns.size
    constant = first.constant & (first.first_row != 0) & ~aliased
    has_intercept = bool(constant.any())

    # The null model: the weighted mean without an offset; with one, the intercept
    # refitted by streamed IRLS from the full fit's mean η − o (as fit._null_deviance).
    null_coef, null_mean = np.zeros(p, dtype), None
    if has_intercept and first.has_offset:
        j = int(np.flatnonzero(constant)[0])
        start_j = np.array([sums.sum_w_eta / sums.sum_w / first.first_row[j]])
        b0, *_ = _streamed_irls(stream, np.array([j]), start_j, tol=tol, max_iter=max_iter, polish=False)
        null_coef[j] = b0[0]
    elif has_intercept:
        null_mean = start.sum_wy / start.sum_w
    phi_ml = _ml_dispersion(family, jnp.asarray(sums.deviance), jnp.asarray(start.sum_prior_w), n_active)
    final = stream.run(coef_full, finish=True, phi=phi_ml, null_coef=null_coef, null_mean=null_mean)

    if dispersion is None or dispersion == "pearson":
        phi = final.pearson / df_resid if family.has_free_dispersion else dtype.type(1.0)
    elif dispersion == "deviance":
        phi = final.deviance / df_resid if family.has_free_dispersion else dtype.type(1.0)
    else:
        phi = dtype.type(dispersion)
    gram = final.gram[np.ix_(columns, columns)]
    cov = phi * np.asarray(_solve_normal_equations(gram, np.eye(columns.size, dtype=dtype), False))
    k = columns.size + int(family.has_free_dispersion)
    loglik = final.loglik
    as_array = partial(jnp.asarray, dtype=dtype)
    result = GLMFit(
        coef=as_array(coef), cov=as_array(cov), se=as_array(np.sqrt(np.diagonal(cov))), dispersion=as_array(phi),
        deviance=as_array(final.deviance), null_deviance=as_array(final.null_deviance),
        pearson_chi2=as_array(final.pearson), loglik=as_array(loglik), aic=as_array(-2.0 * loglik + 2.0 * k),
        bic=as_array(-2.0 * loglik + np.log(n_active) * k), df_resid=as_array(df_resid),
        df_model=as_array(columns.size - int(has_intercept)), n_iter=jnp.asarray(n_iter, jnp.int32),
        converged=jnp.asarray(status == Status.CONVERGED), status=jnp.asarray(int(status), jnp.int32),
        eta=jnp.zeros(0, dtype), mu=jnp.zeros(0, dtype), alpha=None, alpha_se=None, family=family,
        coef_names=coef_names,
    )
    return result, (aliased if aliased.any() else None)

