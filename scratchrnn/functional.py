"""One layer, one direction: forward/backward pairs with explicit, named caches.

Each ``*_forward`` does the work that does not depend on time order as one GEMM
(the input projection for all T steps), hands the sequential part to a Numba
kernel, and returns the outputs plus a cache. Each ``*_backward`` runs the
kernel that carries ``dh`` (and ``dc``) back through time, then computes
``dW_ih``, ``dW_hh``, both bias gradients and ``dx`` as single GEMMs/reductions
over all steps at once. Each pass is one call into compiled code
(``scratchrnn.kernels.passes``); this module checks the arguments, finds the memory and
lays the arrays out for it. Equation labels refer to ``docs/derivations.md``.

Shapes: x (T, N, I); h0, c0 (N, H); w_ih (G·H, I); w_hh (G·H, H);
b_ih, b_hh (G·H,) or None; G = 1 for the RNN, 4 for the LSTM, 3 for the GRU.
The LSTM's optional projection ``w_hr`` (P, H) makes h0 and the outputs P wide.
Every forward takes optional ``lengths`` (N,): each sequence stops at its own end. Every
backward takes ``input_grad``: False leaves out dx (None in the result), the T·N × I product
that torch skips for an input that needs no gradient (a one-hot input, a first layer's data).

Unless ``checked=True`` (below), every call checks what the kernels rely on, at a cost
independent of the data: arrays of one float dtype (float32 or float64), shapes that agree
with each other, both biases or neither, ``lengths`` in 1..T, a cache of the matching kind. A
mismatch is a TypeError or ValueError that names the argument, what was expected and what
came. Values are not inspected: NaN and inf propagate, as in torch (the modules reject them
in their inputs). Each cache keeps a fingerprint of the arrays its backward reads (x, the
saved states, the weights: ``caches.saved_arrays``); a backward after one of them changed in
place raises RuntimeError, as torch's version counter does.

``checked=True`` is for a caller that has checked all of this itself, as the models do at
their own boundary (their weights are their own, and they check the input, the states and
the lengths once for all layers): the function then skips its checks, which are most of
its fixed cost for small inputs. For a backward it also means the caller has just run
``check_unchanged``. Arguments that the checks would have rejected are then undefined
behaviour (the compiled loops do not check their indices), and a forward keeps the caller's
``lengths`` array in its cache as given, without the copy the checks make. A checked forward
fingerprints x and the weights only, not the states it saves (h, c), and its caller promises not
to write the views of them it gets back (``h_n``, ``c_n``, ``out`` without ``lengths``): the
models return copies (``caches.saved_arrays`` says why that is enough, and what it saves).

A pass with enough work runs in row blocks on all cores (``scratchrnn.kernels.team``): the
kernels run blocks of sequences side by side, and the GEMMs are shared among the same threads
with BLAS held on one thread (``team.serial_blas``); ``nb`` below is the number of blocks, ``lb``
that of the time loops' blocks. ``scratchrnn.layout`` decides both, and the form of ``W_hh``
the loops read (a copy of ``W_hhᵀ``, or the weights packed in panels once per pass).

Every forward takes an optional ``workspace`` (``scratchrnn.workspace.Workspace``): its cache,
and the backward's scratch space, then live in memory kept from call to call instead of fresh
arrays (what that changes for the caller: ``scratchrnn.workspace``). The models use one, and
give every backward their ``grads`` to add the parameter gradients into (``accumulate``).
"""

import numpy as np

from . import checks, layout
from .caches import GRUCache, LSTMCache, LSTMGrads, RNNCache, RNNGrads, saved_arrays
from .kernels import passes, team
from .workspace import take

__all__ = ["rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
           "check_unchanged", "RNNCache", "RNNGrads", "LSTMCache", "LSTMGrads", "GRUCache"]


def _check_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, G, w_hr, lengths, checked):
    """Check a forward's arguments: x (T, N, I), h0 (N, P), c0 (N, H) unless None (not an LSTM),
    w_ih (G·H, I), w_hh (G·H, P), the biases (G·H,), w_hr (P, H) and lengths (``checks.
    integer_lengths``); return (T, N, H, P, lengths). Shapes and dtypes only: O(1) in the data.
    ``checked``: the caller has checked them; only read the sizes."""
    if checked:
        return x.shape[0], x.shape[1], w_ih.shape[0] // G, w_hh.shape[1], lengths
    checks.ndarray("x", x)
    if x.dtype not in checks.FLOAT_DTYPES:
        raise TypeError(f"expected x of dtype float32 or float64, got {x.dtype}")
    if x.ndim != 3 or x.size == 0:
        raise ValueError(f"expected x of shape (T, N, I) with T, N, I >= 1, got {checks.shape_str(x.shape)}")
    T, N, I = x.shape
    dt = x.dtype
    checks.same_dtype("w_ih", w_ih, dt)
    if w_ih.ndim != 2 or w_ih.shape[0] == 0 or w_ih.shape[0] % G or w_ih.shape[1] != I:
        raise ValueError(f"expected w_ih of shape (G·H, I) = ({G}·H, {I}) with H >= 1, "
                         f"got {checks.shape_str(w_ih.shape)}")
    H = w_ih.shape[0] // G
    P = H
    if w_hr is not None:
        checks.same_dtype("w_hr", w_hr, dt)
        if w_hr.ndim != 2 or w_hr.shape[1] != H or w_hr.shape[0] == 0:
            raise ValueError(f"expected w_hr of shape (P, H) = (P, {H}) with P >= 1, "
                             f"got {checks.shape_str(w_hr.shape)}")
        P = w_hr.shape[0]
    checks.shaped("w_hh", w_hh, dt, (G * H, P), "(G·H, P)" if w_hr is not None else "(G·H, H)")
    if (b_ih is None) != (b_hh is None):
        raise ValueError("expected b_ih and b_hh both given or both None, got "
                         + ("b_ih only" if b_hh is None else "b_hh only"))
    if b_ih is not None:
        checks.shaped("b_ih", b_ih, dt, (G * H,), "(G·H,)")
        checks.shaped("b_hh", b_hh, dt, (G * H,), "(G·H,)")
    checks.shaped("h0", h0, dt, (N, P), "(N, P)" if w_hr is not None else "(N, H)")
    if c0 is not None:
        checks.shaped("c0", c0, dt, (N, H), "(N, H)")
    return T, N, H, P, checks.integer_lengths(lengths, T, N)


def _check_grads(cache, cache_type, where, checked, d_out, d_h_n, d_c_n=None):
    """The upstream grads match the cache's shapes and dtype; the saved arrays are unchanged
    (unless ``checked``: the caller has checked the grads, and the arrays with
    ``check_unchanged``)."""
    if not isinstance(cache, cache_type):
        raise TypeError(f"{where} expects the {cache_type.__name__} of its forward, got "
                        f"{type(cache).__name__}")
    if checked:
        return
    T, N = cache.x.shape[:2]
    dt = cache.x.dtype
    P = cache.h.shape[2]
    checks.shaped("d_out", d_out, dt, (T, N, P), "(T, N, H_out) of the forward")
    checks.shaped("d_h_n", d_h_n, dt, (N, P), "(N, H_out)")
    if cache_type is LSTMCache:
        checks.shaped("d_c_n", d_c_n, dt, (N, cache.c.shape[2]), "(N, H)")
    check_unchanged(cache, where)


def check_unchanged(cache, where="backward"):
    """RuntimeError when an array that ``cache``'s forward saved has changed in place since.

    Every ``*_backward`` calls it first; a stack of layers calls it on all its caches before
    the first backward, so a rejected backward accumulates nothing anywhere, and then passes
    ``checked=True`` to each backward, which skips its own checks.
    """
    if cache.workspace is not None:
        cache.workspace.check_current(cache.forward_number, where)
    checks.unchanged(cache.stamps, saved_arrays(cache), where)


def _run(serial, blocked, nblocks, loop_nblocks, *args):
    """One compiled call for a layer's pass (``scratchrnn.kernels.passes``): the serial one, or,
    for ``nblocks`` > 1, the pass in row blocks, with BLAS held on one thread meanwhile. The
    pass's last argument, where its per-step products go to BLAS, is added here."""
    blas_small = team.small_matrix_limit()
    if nblocks == 1:
        serial(*args, blas_small)
        return
    with team.serial_blas(nblocks):
        blocked(nblocks, loop_nblocks, *args, blas_small)


def _projection_args(x, w_ih, b_ih, b_hh, workspace):
    """``passes.project``'s arguments for ``x W_ihᵀ + b_ih + b_hh`` over all T·N rows (b_hh may be
    None, both None without bias), and the output xw as the kernels read it, (T, N, G·H)."""
    T, N, I = x.shape
    dt = x.dtype
    xw = take(workspace, "xw", (T, N, w_ih.shape[0]), dt)   # (T, N, G·H)
    bias = [np.empty(0, dt) if b is None else np.ascontiguousarray(b) for b in (b_ih, b_hh)]
    return (x.reshape(T * N, I), np.ascontiguousarray(w_ih), *bias, xw.reshape(T * N, -1)), xw


def _lengths(lengths, T, N):            # valid steps per sequence, int64 (N,); None: all T
    return np.full(N, T, dtype=np.int64) if lengths is None else np.asarray(lengths, dtype=np.int64)


def _valid(lengths, T):                 # (T, N, 1) mask: 1 where step t is within sequence n
    return (np.arange(T)[:, None] < lengths[None, :])[:, :, None]


def _outputs(h, lengths, lengths_given):
    """Every h_t, with padded steps zero (torch's pad_packed_sequence): (T, N, H), a fresh
    array when the caller gave lengths, else (every sequence has all T steps) a view of h."""
    T = h.shape[0] - 1
    return h[1:] * _valid(lengths, T) if lengths_given else h[1:]


def _grads_args(cache, d_a, d_ah, nblocks, input_grad, chunked, accumulate):
    """The arrays a backward pass (``passes.rnn_backward_pass`` …) fills with the input gradient
    and adds the weight and bias gradients (R6)–(R8), (G10) into, and reads them from; returns
    ``(args, (dx, dw_ih, dw_hh, db_ih, db_hh))``.

    ``d_ah`` is the gradient of the recurrent part ``h W_hhᵀ + b_hh`` where it differs from
    that of the input part (the GRU's n gate), else None (passed on as an empty array).
    Without ``input_grad`` dx is None and the pass gets an empty array: it skips the product.
    ``chunked``: dw_hh over chunks of max(T, N) rows, dw_ih of max(T, N, 128) (``kernels.sums``), as
    the RNN and GRU do, else one GEMM each; or per piece (``layout.gradient_pieces``). ``accumulate``:
    the arrays to add the gradients into, or None: fresh zeros. dx is fresh; row blocks keep partial sums.
    """
    x, w_ih, w_hh = cache.x, cache.w_ih, cache.w_hh
    T, N, I = x.shape
    GH, P = w_hh.shape
    dt = x.dtype
    d_a2 = d_a.reshape(T * N, GH)                    # (T·N, G·H)
    d_ah2 = np.empty((0, GH), dt) if d_ah is None else d_ah.reshape(T * N, GH)   # (T·N, G·H); empty: = d_a2
    dx = np.empty((T, N, I) if input_grad else (0, 0, I), dt)   # dx_t = da_t W_ih  (R6)
    bias_size = GH if cache.has_bias else 0
    if accumulate is None:                           # Σ da_tᵀ x_t (R6), Σ da_tᵀ h_{t-1} (R7), Σ da_t[s] (R8)
        dw_ih, dw_hh, db_ih, db_hh = (np.zeros(shape, dt) for shape in ((GH, I), (GH, P), bias_size, bias_size))
    else:
        no_bias = (np.empty(0, dt),) * 2             # one empty array for both: the pass reads neither
        dw_ih, dw_hh, db_ih, db_hh = accumulate[:4] if bias_size else accumulate[:2] + no_bias
    ws = cache.workspace
    partial_ih = take(ws, "dw_ih", (nblocks - 1, GH, I), dt)
    partial_hh = take(ws, "dw_hh", (nblocks - 1, GH, P), dt)
    args = (x.reshape(T * N, I), cache.h[:-1].reshape(T * N, P), w_ih, d_a2, d_ah2, dx.reshape(-1, I),
            dw_ih, dw_hh, db_ih, db_hh, partial_ih, partial_hh,
            *layout.gradient_pieces(T, N, nblocks, chunked, w_ih, cache.w_hh))
    bias_grads = (db_ih, db_hh) if cache.has_bias else (None, None)
    grads = (dx if input_grad else None, dw_ih, dw_hh, *bias_grads)
    return args, grads


def _accumulators(cache, accumulate, where, checked):
    """A backward's ``accumulate`` as None or five arrays (dw_hr None), checked (``checks.accumulators``)."""
    if accumulate is None:
        return None
    if checked:
        return tuple(accumulate) + (None,) * (5 - len(accumulate))
    bias = (cache.w_hh.shape[0],) if cache.has_bias else None
    w_hr = getattr(cache, "w_hr", None)
    shapes = (cache.w_ih.shape, cache.w_hh.shape, bias, bias, None if w_hr is None else w_hr.shape)
    return checks.accumulators(where, accumulate, shapes, cache.x.dtype)


def _no_projection(lengths, dtype):
    """``passes.projection_grad``'s arguments for an LSTM without a projection: empty arrays."""
    empty3 = np.empty((0, 0, 0), dtype)
    return empty3, empty3, lengths, empty3, np.empty((0, 0), dtype), empty3


def rnn_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", lengths=None,
                workspace=None, checked=False):
    """Vanilla RNN over a whole sequence, one direction.

    Returns ``(out, h_n, cache)``: out (T, N, H) is every h_t, h_n (N, H) = h_T.
    ``b_ih`` and ``b_hh`` are both given or both None. ``lengths`` (N,), 1..T, makes each
    sequence stop at its own length: h_n is its state there and its padded outputs are 0.
    ``workspace``: keep the cache there (``scratchrnn.workspace``); h_n, and out without
    ``lengths``, are then views of it (with ``lengths``, out is a fresh array).
    ``checked=True``: the caller has checked the arguments (see the module's docstring).
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    lengths_given = lengths is not None
    T, N, H, _, lengths = _check_layer(x, h0, None, w_ih, w_hh, b_ih, b_hh, 1, None, lengths, checked)
    x = np.ascontiguousarray(x)
    number = workspace.begin_forward() if workspace is not None else 0
    nb = layout.blocks(T, N, w_hh)
    lb = layout.loop_blocks(nb, N, w_hh)
    h = take(workspace, "h", (T + 1, N, H), x.dtype)  # (T+1, N, H)
    h[0] = h0
    relu = nonlinearity == "relu"
    lengths = _lengths(lengths, T, N)                # (N,)
    projection, xw = _projection_args(x, w_ih, b_ih, b_hh, workspace)   # xw (T, N, H): hoisted part of (R1)
    _run(passes.rnn_forward_pass, passes.rnn_forward_blocks, nb, lb, *projection,
         xw, layout.forward_weights(w_hh, N, lb, workspace), h, relu, lengths)   # (R1)–(R2), (V1)
    cache = RNNCache(x, h, w_ih, w_hh, b_ih is not None, relu, lengths, {}, workspace, number)
    cache.stamps.update(checks.fingerprints(saved_arrays(cache, not checked)))
    return _outputs(h, lengths, lengths_given), h[T], cache


def rnn_backward(d_out, d_h_n, cache, checked=False, input_grad=True, accumulate=None):
    """Gradients of ``rnn_forward`` given upstream ``d_out`` (T, N, H) and ``d_h_n`` (N, H).

    Returns ``RNNGrads``. ``dh_t = dy_t + δ_t`` (R3), ``da_t = dh_t ⊙ φ'`` (R4),
    ``δ_{t-1} = da_t W_hh`` (R5), then (R6)–(R8) as GEMMs over all steps. ``input_grad=False``
    leaves dx out (None). ``checked=True``: the caller has checked the grads and run
    ``check_unchanged`` on the cache (see the module's docstring).
    ``accumulate=(dw_ih, dw_hh, db_ih, db_hh)`` (the biases None without bias): arrays, as a
    module's ``grads``, that the weight and bias gradients are added into; the returned
    gradients are then these arrays, holding the running sums. Without it they are fresh
    arrays of this call's alone. ``checked=True`` also vouches for ``accumulate``.
    """
    _check_grads(cache, RNNCache, "rnn_backward", checked, d_out, d_h_n)
    accumulate = _accumulators(cache, accumulate, "rnn_backward", checked)
    d_out = np.ascontiguousarray(d_out)
    ws = cache.workspace
    d_a = take(ws, "d_a", d_out.shape, d_out.dtype)                      # (T, N, H)
    dh = take(ws, "dh", d_out.shape, d_out.dtype)                        # (T, N, H)
    dh0 = np.empty_like(d_h_n)                                           # (N, H)
    T, N, _ = d_out.shape
    nb = layout.blocks(T, N, cache.w_hh)
    lb = layout.loop_blocks(nb, N, cache.w_hh)
    grads_args, (dx, dw_ih, dw_hh, db_ih, db_hh) = _grads_args(cache, d_a, None, nb, input_grad, True, accumulate)
    _run(passes.rnn_backward_pass, passes.rnn_backward_blocks, nb, lb,
         *grads_args, d_out, np.ascontiguousarray(d_h_n), layout.backward_weights(cache.w_hh, T, N, lb, ws), cache.h,
         cache.relu, cache.lengths, d_a, dh, dh0)    # (R3)–(R5), (V2), then (R6)–(R8)
    return RNNGrads(dx, dh0, dh, dw_ih, dw_hh, db_ih, db_hh)


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, lengths=None,
                 workspace=None, checked=False):
    """LSTM over a whole sequence, one direction, gate order i, f, g, o.

    With ``w_hr`` (P, H), torch's projection: ``h_t = (o ⊙ tanh(c_t)) W_hrᵀ`` (P1), and
    h0, h_t have P features. Returns ``(out, h_n, c_n, cache)``: out (T, N, P) is every
    h_t; h_n (N, P), c_n (N, H). ``lengths``, ``workspace`` and ``checked`` as in ``rnn_forward``.
    """
    lengths_given = lengths is not None
    T, N, H, P, lengths = _check_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, 4, w_hr, lengths, checked)
    x = np.ascontiguousarray(x)
    number = workspace.begin_forward() if workspace is not None else 0
    nb = layout.blocks(T, N, w_hh)
    lb = layout.loop_blocks(nb, N, w_hh)
    h = take(workspace, "h", (T + 1, N, P), x.dtype)  # (T+1, N, P)
    c = take(workspace, "c", (T + 1, N, H), x.dtype)  # (T+1, N, H)
    h[0] = h0
    c[0] = c0
    m = h[1:] if w_hr is None else take(workspace, "m", (T, N, H), x.dtype)   # (T, N, H)
    # (H, P), C order as W_hhᵀ (see _w_hh_t), or (H, 0) without a projection
    w_hr_t = np.empty((H, 0), x.dtype) if w_hr is None else np.ascontiguousarray(w_hr.T)
    gates = take(workspace, "gates", (T, N, 4 * H), x.dtype)   # (T, N, 4H)
    tanh_c = take(workspace, "tanh_c", (T, N, H), x.dtype)     # (T, N, H)
    lengths = _lengths(lengths, T, N)                # (N,)
    projection, xw = _projection_args(x, w_ih, b_ih, b_hh, workspace)   # xw (T, N, 4H): hoisted part of (L1)
    _run(passes.lstm_forward_pass, passes.lstm_forward_blocks, nb, lb, *projection,
         xw, layout.forward_weights(w_hh, N, lb, workspace), w_hr_t, h, c, m, gates, tanh_c, lengths)   # (L1)–(L4), (P1), (V1)
    cache = LSTMCache(x, h, c, m, gates, tanh_c, w_ih, w_hh, w_hr, b_ih is not None, lengths, {},
                      workspace, number)
    cache.stamps.update(checks.fingerprints(saved_arrays(cache, not checked)))
    return _outputs(h, lengths, lengths_given), h[T], c[T], cache


def lstm_backward(d_out, d_h_n, d_c_n, cache, checked=False, input_grad=True, accumulate=None):
    """Gradients of ``lstm_forward`` given ``d_out`` (T, N, P), ``d_h_n`` (N, P), ``d_c_n`` (N, H).

    Returns ``LSTMGrads``: the kernel runs (L5)–(L10) and (P2), then (L11) and (P3) as GEMMs.
    ``checked``, ``input_grad`` and ``accumulate`` as in ``rnn_backward`` (with dw_hr fifth for a
    projection).
    """
    _check_grads(cache, LSTMCache, "lstm_backward", checked, d_out, d_h_n, d_c_n)
    accumulate = _accumulators(cache, accumulate, "lstm_backward", checked)
    d_out = np.ascontiguousarray(d_out)
    T, N, P = d_out.shape
    H = cache.c.shape[2]
    w_hr = np.empty((0, H), d_out.dtype) if cache.w_hr is None else cache.w_hr   # (P, H) or (0, H)
    d_a = take(cache.workspace, "d_a", (T, N, 4 * H), d_out.dtype)       # (T, N, 4H)
    dh = take(cache.workspace, "dh", (T, N, P), d_out.dtype)             # (T, N, P)
    dh0, dc0 = np.empty((N, P), d_out.dtype), np.empty((N, H), d_out.dtype)
    nb = layout.blocks(T, N, cache.w_hh)
    lb = layout.loop_blocks(nb, N, cache.w_hh)
    grads_args, (dx, dw_ih, dw_hh, db_ih, db_hh) = _grads_args(cache, d_a, None, nb, input_grad, False, accumulate)   # (L11)
    if cache.w_hr is None:
        dw_hr = None
        projection = _no_projection(cache.lengths, d_out.dtype)
    else:                                            # (P3): dw_hr (P, H) over valid steps (V2)
        dw_hr = np.zeros((P, H), d_out.dtype) if accumulate is None else accumulate[4]
        projection = (dh, cache.m, cache.lengths, take(cache.workspace, "dh_valid", (T, N, P), d_out.dtype),
                      dw_hr, take(cache.workspace, "dw_hr", (nb - 1, P, H), d_out.dtype))
    _run(passes.lstm_backward_pass, passes.lstm_backward_blocks, nb, lb,
         *grads_args, *projection, d_out, np.ascontiguousarray(d_h_n), np.ascontiguousarray(d_c_n),
         layout.backward_weights(cache.w_hh, T, N, lb, cache.workspace), w_hr, cache.c, cache.gates, cache.tanh_c,
         cache.lengths, d_a, dh, dh0, dc0)           # (L5)–(L10), (P2), then (L11), (P3)
    return LSTMGrads(dx, dh0, dc0, dh, dw_ih, dw_hh, db_ih, db_hh, dw_hr)


def gru_forward(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, workspace=None, checked=False):
    """GRU over a whole sequence, one direction, gate order r, z, n (torch's equations).

    Returns ``(out, h_n, cache)``: out (T, N, H) is every h_t, h_n (N, H) = h_T.
    Only ``b_ih`` joins the hoisted GEMM: ``b^n_hh`` sits inside ``r ⊙ (h W^n_hhᵀ + b^n_hh)`` (G3).
    ``lengths``, ``workspace`` and ``checked`` as in ``rnn_forward``.
    """
    lengths_given = lengths is not None
    T, N, H, _, lengths = _check_layer(x, h0, None, w_ih, w_hh, b_ih, b_hh, 3, None, lengths, checked)
    x = np.ascontiguousarray(x)
    number = workspace.begin_forward() if workspace is not None else 0
    nb = layout.blocks(T, N, w_hh)
    lb = layout.loop_blocks(nb, N, w_hh)
    b_hh = np.zeros(3 * H, dtype=x.dtype) if b_hh is None else b_hh   # (3H,)
    h = take(workspace, "h", (T + 1, N, H), x.dtype)  # (T+1, N, H)
    h[0] = h0
    gates = take(workspace, "gates", (T, N, 3 * H), x.dtype)   # (T, N, 3H)
    a_hn = take(workspace, "a_hn", (T, N, H), x.dtype)         # (T, N, H)
    lengths = _lengths(lengths, T, N)                # (N,)
    projection, xw = _projection_args(x, w_ih, b_ih, None, workspace)   # xw (T, N, 3H): a^x for all t (G1)
    _run(passes.gru_forward_pass, passes.gru_forward_blocks, nb, lb, *projection,
         xw, layout.forward_weights(w_hh, N, lb, workspace), b_hh, h, gates, a_hn, lengths)   # (G1)–(G4), (V1)
    cache = GRUCache(x, h, gates, a_hn, w_ih, w_hh, b_ih is not None, lengths, {}, workspace, number)
    cache.stamps.update(checks.fingerprints(saved_arrays(cache, not checked)))
    return _outputs(h, lengths, lengths_given), h[T], cache


def gru_backward(d_out, d_h_n, cache, checked=False, input_grad=True, accumulate=None):
    """Gradients of ``gru_forward`` given ``d_out`` (T, N, H) and ``d_h_n`` (N, H).

    Returns ``RNNGrads`` (same fields): the kernel runs (G5)–(G9), then (G10) as GEMMs.
    ``checked``, ``input_grad`` and ``accumulate`` as in ``rnn_backward``.
    """
    _check_grads(cache, GRUCache, "gru_backward", checked, d_out, d_h_n)
    accumulate = _accumulators(cache, accumulate, "gru_backward", checked)
    d_out = np.ascontiguousarray(d_out)
    T, N, H = d_out.shape
    ws = cache.workspace
    d_ax = take(ws, "d_a", (T, N, 3 * H), d_out.dtype)                   # (T, N, 3H)
    d_ah = take(ws, "d_ah", (T, N, 3 * H), d_out.dtype)                  # (T, N, 3H)
    dh = take(ws, "dh", (T, N, H), d_out.dtype)                          # (T, N, H)
    dh0 = np.empty((N, H), d_out.dtype)                                  # (N, H)
    nb = layout.blocks(T, N, cache.w_hh)
    lb = layout.loop_blocks(nb, N, cache.w_hh)
    grads_args, (dx, dw_ih, dw_hh, db_ih, db_hh) = _grads_args(cache, d_ax, d_ah, nb, input_grad, True, accumulate)   # (G10)
    _run(passes.gru_backward_pass, passes.gru_backward_blocks, nb, lb,
         *grads_args, d_out, np.ascontiguousarray(d_h_n), layout.backward_weights(cache.w_hh, T, N, lb, ws), cache.h,
         cache.gates, cache.a_hn, cache.lengths, d_ax, d_ah, dh, dh0)   # (G5)–(G9), (V2), then (G10)
    return RNNGrads(dx, dh0, dh, dw_ih, dw_hh, db_ih, db_hh)
