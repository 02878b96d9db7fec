"""Numba time loops: only the inherently sequential part of each recurrence.

Everything that does not depend on the previous hidden state (the input
projection, the weight gradients, ``dx``) is a single GEMM outside these loops
(see ``scratchrnn.functional``). What is left here per step is ``h W_hhᵀ`` (or
``da W_hh`` going back) and the elementwise gate maths.

The kernels are plain NumPy that Numba compiles. With ``NUMBA_DISABLE_JIT=1``
the very same lines run as Python, so a reader can step through BPTT in a
debugger. Equation labels, e.g. ``(L7)``, refer to ``docs/derivations.md``.

Conventions: time-major, C-contiguous arrays; ``h`` is preallocated as ``(T+1, N, H)``
with ``h[0] = h0``, so ``h[t]`` is the state *before* step ``t`` and ``h[t+1]`` the state
after it; one dtype end to end in every array (the scalar gate maths are evaluated in
float64 and stored in the data's dtype, so float32 results are the correctly rounded ones).

The file reads top-down as the maths: the RNN, the LSTM and the GRU, each forward then
backward; the two variable-length helpers (V1), (V2) come last. The gate functions are in
``gates.py``, the per-step products in ``products.py``.
"""

import numpy as np

from scratchrnn.kernels.gates import is_single, sigmoid, tanh
from scratchrnn.kernels.jit import jit
from scratchrnn.kernels.products import matmul, matmul_add


# ---------------------------------------------------------------------------
# Vanilla RNN:  h_t = φ(x_t W_ihᵀ + b_ih + b_hh + h_{t-1} W_hhᵀ),  φ = tanh | relu
# ---------------------------------------------------------------------------

@jit
def rnn_forward_kernel(xw, w_hh_t, h, relu, lengths):
    """Run the RNN recurrence in place.

    xw:      (T, N, H) input projection ``x W_ihᵀ + b_ih + b_hh`` for every step
    w_hh_t:  (H, H)    ``W_hhᵀ`` (a transposed view is fine)
    h:       (T+1, N, H) with ``h[0] = h0`` on entry; ``h[1:]`` is written
    relu:    bool      φ = relu if True else tanh
    lengths: (N,)      valid steps per sequence (T for all without padding); past its
             end a sequence's state is frozen (V1), so h[T] is its state at its own end
    """
    T, N, H = xw.shape
    single = is_single(xw)                           # float32 data: tanh without libm (vectorised)
    for t in range(T):
        a = matmul_add(xw[t], h[t], w_hh_t)          # (N, H)   (R1)
        for n in range(N):
            a_n, h_n = a[n], h[t + 1, n]
            if relu:
                for j in range(H):
                    h_n[j] = max(a_n[j], 0)          # (R2)
            else:
                for j in range(H):
                    h_n[j] = tanh(a_n[j], single)    # (R2)
        _freeze(h, t, lengths)                       # (V1)


@jit
def rnn_backward_kernel(d_out, d_h_n, w_hh, h, relu, lengths, d_a, dh_all):
    """Carry ``dh`` back through time; write every step's ``da`` for the GEMMs after the loop.

    d_out: (T, N, H) upstream gradient of every output ``h_t``
    d_h_n: (N, H)    upstream gradient of the final state ``h_T``
    w_hh:  (H, H)    ``W_hh`` itself (not transposed): ``δ_{t-1} = da_t W_hh``
    h:     (T+1, N, H) states from the forward
    lengths: (N,)    valid steps per sequence, as in the forward
    d_a:   (T, N, H) output: gradient of the pre-activations
    dh_all: (T, N, H) output: total gradient reaching each h_t (what gradflow plots)
    Returns dh0 (N, H).
    """
    T, N, H = d_out.shape
    delta = d_h_n.copy()                             # (N, H)   δ_T = dh_n (given) (R3)
    for t in range(T - 1, -1, -1):
        for n in range(N):
            if t >= lengths[n]:                      # padded step: its output is a constant 0 (V2)
                dh_all[t, n] = delta[n]
                d_a[t, n] = 0
                continue
            for j in range(H):
                dh = d_out[t, n, j] + delta[n, j]               # dh_t = dy_t + δ_t  (R3)
                dh_all[t, n, j] = dh
                h_t = h[t + 1, n, j]
                if relu:
                    d_a[t, n, j] = dh if h_t > 0 else 0          # relu' = 1[h_t > 0] (R4)
                else:
                    d_a[t, n, j] = dh * (1 - h_t * h_t)          # tanh' = 1 − h_t²   (R4)
        new_delta = matmul_add(None, d_a[t], w_hh)   # (N, H)   δ_{t-1} = da_t W_hh (R5)
        _pass_through(new_delta, delta, t, lengths)  # (V2)
        delta = new_delta
    return delta                                     # (N, H)   dh_0 = δ_0          (R5)


# ---------------------------------------------------------------------------
# LSTM, gate order i, f, g, o (torch's)
# ---------------------------------------------------------------------------

@jit
def lstm_forward_kernel(xw, w_hh_t, w_hr_t, h, c, m, gates, tanh_c, lengths):
    """Run the LSTM recurrence in place, caching what the backward needs.

    xw:     (T, N, 4H) input projection ``x W_ihᵀ + b_ih + b_hh`` for every step
    w_hh_t: (P, 4H)    ``W_hhᵀ`` (a transposed view is fine); P = H without a projection
    w_hr_t: (H, P)     ``W_hrᵀ`` of the projection, or an empty (H, 0) array without one
    h, c:   (T+1, N, P), (T+1, N, H) with ``h[0] = h0``, ``c[0] = c0``; ``[1:]`` is written
    m:      (T, N, H)  output: ``o ⊙ tanh(c_t)``; without a projection pass ``h[1:]``
    gates:  (T, N, 4H) output: post-activation gates [i, f, g, o]
    tanh_c: (T, N, H)  output: tanh(c_t)
    lengths: (N,)      valid steps per sequence; past its end a sequence's h and c are frozen (V1)
    """
    T, N, G = xw.shape
    H = G // 4
    project = w_hr_t.shape[1] > 0
    single = is_single(xw)                           # float32 data: gate maths without libm
    act = np.empty((N, G))                           # (N, 4H)  gates in float64, before rounding
    c64 = np.empty(H)                                # (H,)     c_t of one row in float64
    tc64 = np.empty(H)                               # (H,)     tanh(c_t) of one row in float64
    # Each inner loop writes one array and reads a few: LLVM vectorises such loops (a
    # single fused loop writing six arrays stayed scalar), and the float64 buffers keep
    # every product as exact as in a fused loop.
    for t in range(T):
        a = matmul_add(xw[t], h[t], w_hh_t)          # (N, 4H)  (L1)
        for n in range(N):
            a_n, act_n = a[n], act[n]
            for j in range(2 * H):
                act_n[j] = sigmoid(a_n[j], single)   # input and forget gates i, f   (L2)
            for j in range(2 * H, 3 * H):
                act_n[j] = tanh(a_n[j], single)      # cell candidate g              (L2)
            for j in range(3 * H, G):
                act_n[j] = sigmoid(a_n[j], single)   # output gate o                 (L2)
            gates_n = gates[t, n]
            for j in range(G):
                gates_n[j] = act_n[j]                # (4H,)   rounded to the data's dtype
            c_prev, c_n = c[t, n], c[t + 1, n]
            for j in range(H):
                c64[j] = act_n[H + j] * c_prev[j] + act_n[j] * act_n[2 * H + j]    # (L3)
            for j in range(H):
                c_n[j] = c64[j]
            tanh_c_n = tanh_c[t, n]
            for j in range(H):
                tc64[j] = tanh(c64[j], single)
            for j in range(H):
                tanh_c_n[j] = tc64[j]
            m_n = m[t, n]
            for j in range(H):
                m_n[j] = act_n[3 * H + j] * tc64[j]  # (L4); this is h[t+1] without a projection
        if project:
            h[t + 1] = matmul(m[t], w_hr_t)          # (N, P)   h_t = m_t W_hrᵀ     (P1)
        _freeze(h, t, lengths)                       # (V1)
        _freeze(c, t, lengths)


@jit
def lstm_backward_kernel(d_out, d_h_n, d_c_n, w_hh, w_hr, c, gates, tanh_c, lengths, d_a, dh_all):
    """Carry ``dh`` and ``dc`` back through time; write every step's ``da``.

    d_out:  (T, N, P)  upstream gradient of every output ``h_t`` (P = H without a projection)
    d_h_n:  (N, P)     upstream gradient of the final ``h_T``
    d_c_n:  (N, H)     upstream gradient of the final ``c_T``
    w_hh:   (4H, P)    ``W_hh`` itself: ``δ_{t-1} = da_t W_hh``
    w_hr:   (P, H)     the projection ``W_hr``, or an empty (0, H) array without one
    c:      (T+1, N, H) cell states from the forward
    gates:  (T, N, 4H) post-activation gates [i, f, g, o] from the forward
    tanh_c: (T, N, H)  tanh(c_t) from the forward
    lengths: (N,)      valid steps per sequence, as in the forward
    d_a:    (T, N, 4H) output: gradient of the pre-activations
    dh_all: (T, N, P)  output: total gradient reaching each h_t (gradflow plots it; (P3) uses it)
    Returns (dh0, dc0), shapes (N, P) and (N, H).
    """
    T, N, H = tanh_c.shape
    project = w_hr.shape[0] > 0
    delta = d_h_n.copy()                             # (N, P)   δ_T = dh_n (given)        (L5)
    gamma = d_c_n.copy()                             # (N, H)   γ_T = dc_n (given)        (L7)
    for t in range(T - 1, -1, -1):
        dh_all[t] = d_out[t] + delta                 # (N, P)   dh_t = dy_t + δ_t         (L5)
        for n in range(N):
            if t >= lengths[n]:                      # padded step: its output is a constant 0 (V2)
                dh_all[t, n] = delta[n]
        dm = matmul(dh_all[t], w_hr) if project else dh_all[t]   # (N, H)  dm_t = dh_t W_hr  (P2)
        for n in range(N):
            if t >= lengths[n]:                      # frozen: no gate saw this step, γ passes (V2)
                d_a[t, n] = 0
                continue
            # One array written per loop so that each vectorises (as in the forward);
            # gamma holds dc_t between the first and last loop.
            gates_n, tc, c_prev, dh, gam, da = gates[t, n], tanh_c[t, n], c[t, n], dm[n], gamma[n], d_a[t, n]
            for j in range(H):                       # dh is dh_t itself without a projection
                o = gates_n[3 * H + j]
                gam[j] = gam[j] + dh[j] * o * (1 - tc[j] * tc[j])                 # dc_t  (L7)
            for j in range(H):
                i, g = gates_n[j], gates_n[2 * H + j]
                da[j] = gam[j] * g * i * (1 - i)                                   # da^i  (L8)
            for j in range(H):
                f = gates_n[H + j]
                da[H + j] = gam[j] * c_prev[j] * f * (1 - f)                       # da^f  (L8)
            for j in range(H):
                i, g = gates_n[j], gates_n[2 * H + j]
                da[2 * H + j] = gam[j] * i * (1 - g * g)                           # da^g  (L8)
            for j in range(H):
                o = gates_n[3 * H + j]
                da[3 * H + j] = dh[j] * tc[j] * o * (1 - o)                        # da^o  (L6)
            for j in range(H):
                gam[j] = gam[j] * gates_n[H + j]                                   # γ_{t-1} = dc_t ⊙ f_t  (L9)
        new_delta = matmul_add(None, d_a[t], w_hh)   # (N, P)   δ_{t-1} = da_t W_hh       (L10)
        _pass_through(new_delta, delta, t, lengths)  # (V2)
        delta = new_delta
    return delta, gamma                              # dh_0 = δ_0, dc_0 = γ_0


# ---------------------------------------------------------------------------
# GRU, gate order r, z, n (torch's), with b_hn inside r ⊙ (h W_hnᵀ + b_hn)
# ---------------------------------------------------------------------------

@jit
def gru_forward_kernel(xw, w_hh_t, b_hh, h, gates, hw_n, lengths):
    """Run the GRU recurrence in place, caching what the backward needs.

    xw:     (T, N, 3H) input part ``x W_ihᵀ + b_ih`` for every step (b_hh is NOT in it)
    w_hh_t: (H, 3H)    ``W_hhᵀ`` (a transposed view is fine)
    b_hh:   (3H,)      recurrent bias (zeros without bias)
    h:      (T+1, N, H) with ``h[0] = h0`` on entry; ``h[1:]`` is written
    gates:  (T, N, 3H) output: post-activation gates [r, z, n]
    hw_n:   (T, N, H)  output: a^h_n = h_{t-1} W_hnᵀ + b_hn, the term r multiplies
    lengths: (N,)      valid steps per sequence; past its end a sequence's state is frozen (V1)
    """
    T, N, G = xw.shape
    H = G // 3
    single = is_single(xw)                           # float32 data: gate maths without libm
    act = np.empty((N, G))                           # (N, 3H)  gates in float64, before rounding
    # One array written per inner loop, so LLVM vectorises them (see lstm_forward_kernel).
    for t in range(T):
        a_h = matmul_add(None, h[t], w_hh_t)         # (N, 3H)  h_{t-1} W_hhᵀ       (G1)
        for n in range(N):
            xw_n, ah_n, act_n, hwn = xw[t, n], a_h[n], act[n], hw_n[t, n]
            for j in range(2 * H):
                act_n[j] = sigmoid(xw_n[j] + ah_n[j] + b_hh[j], single)        # r, z  (G2)
            for j in range(H):
                hwn[j] = ah_n[2 * H + j] + b_hh[2 * H + j]                      # a^h_n
            for j in range(H):
                act_n[2 * H + j] = tanh(xw_n[2 * H + j] + act_n[j] * hwn[j], single)  # n_t (G3)
            gates[t, n] = act_n                      # (3H,)   rounded to the data's dtype
            h_prev, h_new = h[t, n], h[t + 1, n]
            for j in range(H):
                z = act_n[H + j]
                h_new[j] = (1 - z) * act_n[2 * H + j] + z * h_prev[j]          # (G4)
        _freeze(h, t, lengths)                       # (V1)


@jit
def gru_backward_kernel(d_out, d_h_n, w_hh, h, gates, hw_n, lengths, d_ax, d_ah, dh_all):
    """Carry ``dh`` back through time; write every step's gradients of both pre-activations.

    d_out: (T, N, H)  upstream gradient of every output ``h_t``
    d_h_n: (N, H)     upstream gradient of the final state
    w_hh:  (3H, H)    ``W_hh`` itself
    h:     (T+1, N, H) states from the forward
    gates: (T, N, 3H) post-activation [r, z, n] from the forward
    hw_n:  (T, N, H)  a^h_n from the forward
    lengths: (N,)     valid steps per sequence, as in the forward
    d_ax:  (T, N, 3H) output: gradient of the input part a^x (for dW_ih, db_ih, dx)
    d_ah:  (T, N, 3H) output: gradient of the recurrent part a^h (for dW_hh, db_hh)
    dh_all: (T, N, H) output: total gradient reaching each h_t (what gradflow plots)
    Returns dh0 (N, H).
    """
    T, N, H = d_out.shape
    delta = d_h_n.copy()                             # (N, H)   δ_T = dh_n (given)  (G5)
    for t in range(T - 1, -1, -1):
        direct = np.zeros((N, H), dtype=d_out.dtype) # (N, H)   dh_t ⊙ z_t, first path of (G9)
        for n in range(N):
            if t >= lengths[n]:                      # padded step: its output is a constant 0 (V2)
                dh_all[t, n] = delta[n]
                d_ax[t, n] = 0
                d_ah[t, n] = 0
                continue
            for j in range(H):
                r = gates[t, n, j]
                z = gates[t, n, H + j]
                g = gates[t, n, 2 * H + j]
                dh = d_out[t, n, j] + delta[n, j]                        # (G5)
                dh_all[t, n, j] = dh
                dn = dh * (1 - z)                                        # (G6)
                dz = dh * (h[t, n, j] - g)                               # (G6)
                dan = dn * (1 - g * g)                                   # da^x_n  (G7)
                dr = dan * hw_n[t, n, j]                                 # (G7)
                dar = dr * r * (1 - r)                                   # (G8)
                daz = dz * z * (1 - z)                                   # (G8)
                d_ax[t, n, j] = dar
                d_ax[t, n, H + j] = daz
                d_ax[t, n, 2 * H + j] = dan
                d_ah[t, n, j] = dar
                d_ah[t, n, H + j] = daz
                d_ah[t, n, 2 * H + j] = dan * r                          # da^h_n  (G7)
                direct[n, j] = dh * z
        new_delta = matmul_add(direct, d_ah[t], w_hh)  # (N, H)  δ_{t-1}             (G9)
        _pass_through(new_delta, delta, t, lengths)  # (V2)
        delta = new_delta
    return delta


# ---------------------------------------------------------------------------
# Variable lengths: a sequence that has ended keeps its state (V1), and its
# gradient passes back unchanged (V2).
# ---------------------------------------------------------------------------

@jit
def _freeze(state, t, lengths):
    """Sequences that ended before step t keep their state: ``s[t+1, n] = s[t, n]`` (V1)."""
    for n in range(state.shape[1]):
        if t >= lengths[n]:
            state[t + 1, n] = state[t, n]


@jit
def _pass_through(new_delta, delta, t, lengths):
    """A frozen state is a copy, so its gradient passes back unchanged: ``δ_{t-1} = δ_t`` (V2)."""
    for n in range(delta.shape[0]):
        if t >= lengths[n]:
            new_delta[n] = delta[n]
