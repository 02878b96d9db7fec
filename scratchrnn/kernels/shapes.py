"""Shape checks at the entry of every time loop: a mismatch is a ValueError, never a write out of bounds.

The loops index their arrays by the sizes they read from one of them (``T, N, H =
xw.shape``), so an array of the wrong shape would be read or written past its end.
``scratchrnn.functional`` checks its arguments before it calls a kernel; these checks
make the kernels themselves safe to call directly. They compare a handful of integers
per call. A per-step product's weights are checked by the (K, M) they stand for, whether
a matrix or packed in panels (``products.operand_shape``).
"""

from scratchrnn.kernels.jit import jit
from scratchrnn.kernels.products import operand_shape


@jit
def _expect(ok, message):
    if not ok:
        raise ValueError(message)


@jit
def rnn_forward(xw, w_hh_t, h, lengths, n0, n1):
    T, N, H = xw.shape
    _expect(0 <= n0 <= n1 <= N, "rnn_forward_kernel: expected batch rows 0 <= n0 <= n1 <= N")
    _expect(operand_shape(w_hh_t) == (H, H), "rnn_forward_kernel: expected w_hh_t of shape (H, H) for xw (T, N, H)")
    _expect(h.shape == (T + 1, N, H), "rnn_forward_kernel: expected h of shape (T+1, N, H) for xw (T, N, H)")
    _expect(lengths.shape == (N,), "rnn_forward_kernel: expected lengths of shape (N,) for xw (T, N, H)")


@jit
def rnn_backward(d_out, d_h_n, w_hh, h, lengths, d_a, dh_all, dh0, n0, n1):
    T, N, H = d_out.shape
    _expect(0 <= n0 <= n1 <= N, "rnn_backward_kernel: expected batch rows 0 <= n0 <= n1 <= N")
    _expect(d_h_n.shape == (N, H) and dh0.shape == (N, H),
            "rnn_backward_kernel: expected d_h_n and dh0 of shape (N, H) for d_out (T, N, H)")
    _expect(operand_shape(w_hh) == (H, H), "rnn_backward_kernel: expected w_hh of shape (H, H) for d_out (T, N, H)")
    _expect(h.shape == (T + 1, N, H), "rnn_backward_kernel: expected h of shape (T+1, N, H) for d_out (T, N, H)")
    _expect(lengths.shape == (N,), "rnn_backward_kernel: expected lengths of shape (N,) for d_out (T, N, H)")
    _expect(d_a.shape == (T, N, H) and dh_all.shape == (T, N, H),
            "rnn_backward_kernel: expected d_a and dh_all of shape (T, N, H) for d_out (T, N, H)")


@jit
def lstm_forward(xw, w_hh_t, w_hr_t, h, c, m, gates, tanh_c, lengths, n0, n1):
    T, N, GH = xw.shape
    _expect(0 <= n0 <= n1 <= N, "lstm_forward_kernel: expected batch rows 0 <= n0 <= n1 <= N")
    (P, M), H = operand_shape(w_hh_t), GH // 4
    _expect(GH % 4 == 0 and M == GH,
            "lstm_forward_kernel: expected xw (T, N, 4H) and w_hh_t (P, 4H)")
    _expect(w_hr_t.shape == (H, P) or (w_hr_t.shape == (H, 0) and P == H),
            "lstm_forward_kernel: expected w_hr_t of shape (H, P), or (H, 0) with P = H")
    _expect(h.shape == (T + 1, N, P) and c.shape == (T + 1, N, H),
            "lstm_forward_kernel: expected h (T+1, N, P) and c (T+1, N, H)")
    _expect(m.shape == (T, N, H) and tanh_c.shape == (T, N, H) and gates.shape == (T, N, GH),
            "lstm_forward_kernel: expected m and tanh_c of shape (T, N, H), gates (T, N, 4H)")
    _expect(lengths.shape == (N,), "lstm_forward_kernel: expected lengths of shape (N,) for xw (T, N, 4H)")


@jit
def lstm_backward(d_out, d_h_n, d_c_n, w_hh, w_hr, c, gates, tanh_c, lengths, d_a, dh_all, dh0, dc0, n0, n1):
    T, N, H = tanh_c.shape
    _expect(0 <= n0 <= n1 <= N, "lstm_backward_kernel: expected batch rows 0 <= n0 <= n1 <= N")
    P = d_out.shape[2]
    _expect(d_out.shape == (T, N, P) and d_h_n.shape == (N, P) and d_c_n.shape == (N, H),
            "lstm_backward_kernel: expected d_out (T, N, P), d_h_n (N, P), d_c_n (N, H) for tanh_c (T, N, H)")
    _expect(operand_shape(w_hh) == (4 * H, P), "lstm_backward_kernel: expected w_hh of shape (4H, P)")
    _expect(w_hr.shape == (P, H) or (w_hr.shape == (0, H) and P == H),
            "lstm_backward_kernel: expected w_hr of shape (P, H), or (0, H) with P = H")
    _expect(c.shape == (T + 1, N, H) and gates.shape == (T, N, 4 * H),
            "lstm_backward_kernel: expected c (T+1, N, H) and gates (T, N, 4H)")
    _expect(lengths.shape == (N,), "lstm_backward_kernel: expected lengths of shape (N,)")
    _expect(d_a.shape == (T, N, 4 * H) and dh_all.shape == (T, N, P),
            "lstm_backward_kernel: expected d_a (T, N, 4H) and dh_all (T, N, P)")
    _expect(dh0.shape == (N, P) and dc0.shape == (N, H), "lstm_backward_kernel: expected dh0 (N, P) and dc0 (N, H)")


@jit
def gru_forward(xw, w_hh_t, b_hh, h, gates, a_hn, lengths, n0, n1):
    T, N, GH = xw.shape
    _expect(0 <= n0 <= n1 <= N, "gru_forward_kernel: expected batch rows 0 <= n0 <= n1 <= N")
    H = GH // 3
    _expect(GH % 3 == 0 and operand_shape(w_hh_t) == (H, GH) and b_hh.shape == (GH,),
            "gru_forward_kernel: expected xw (T, N, 3H), w_hh_t (H, 3H) and b_hh (3H,)")
    _expect(h.shape == (T + 1, N, H) and gates.shape == (T, N, GH) and a_hn.shape == (T, N, H),
            "gru_forward_kernel: expected h (T+1, N, H), gates (T, N, 3H) and a_hn (T, N, H)")
    _expect(lengths.shape == (N,), "gru_forward_kernel: expected lengths of shape (N,)")


@jit
def gru_backward(d_out, d_h_n, w_hh, h, gates, a_hn, lengths, d_ax, d_ah, dh_all, dh0, n0, n1):
    T, N, H = d_out.shape
    _expect(0 <= n0 <= n1 <= N, "gru_backward_kernel: expected batch rows 0 <= n0 <= n1 <= N")
    _expect(d_h_n.shape == (N, H) and dh0.shape == (N, H) and operand_shape(w_hh) == (3 * H, H) and h.shape == (T + 1, N, H),
            "gru_backward_kernel: expected d_h_n and dh0 (N, H), w_hh (3H, H) and h (T+1, N, H) for d_out (T, N, H)")
    _expect(gates.shape == (T, N, 3 * H) and a_hn.shape == (T, N, H) and lengths.shape == (N,),
            "gru_backward_kernel: expected gates (T, N, 3H), a_hn (T, N, H) and lengths (N,)")
    _expect(d_ax.shape == (T, N, 3 * H) and d_ah.shape == (T, N, 3 * H) and dh_all.shape == (T, N, H),
            "gru_backward_kernel: expected d_ax and d_ah (T, N, 3H) and dh_all (T, N, H)")
