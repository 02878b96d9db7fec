"""Every time loop refuses arrays of the wrong shape with a ValueError, before it reads or writes them.

The cases run in a child process: a missing check would mean a write out of bounds, which
may crash the interpreter rather than raise; the child's exit then fails the test.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).resolve().parents[1]

_CHILD = r'''
import json, sys
import numpy as np
from scratchrnn import kernels as K

T, N, H, P = 3, 2, 4, 3
z = lambda *s: np.zeros(s)
lens = np.full(N, T)
cases = {
    "rnn_forward_kernel": (K.rnn_forward_kernel, dict(xw=z(T, N, H), w_hh_t=z(H, H), h=z(T + 1, N, H), relu=False, lengths=lens, blas_small=0, n0=0, n1=N)),
    "rnn_backward_kernel": (K.rnn_backward_kernel, dict(d_out=z(T, N, H), d_h_n=z(N, H), w_hh=z(H, H), h=z(T + 1, N, H),
                            relu=False, lengths=lens, d_a=z(T, N, H), dh_all=z(T, N, H), dh0=z(N, H), blas_small=0, n0=0, n1=N)),
    "lstm_forward_kernel": (K.lstm_forward_kernel, dict(xw=z(T, N, 4 * H), w_hh_t=z(P, 4 * H), w_hr_t=z(H, P), h=z(T + 1, N, P),
                            c=z(T + 1, N, H), m=z(T, N, H), gates=z(T, N, 4 * H), tanh_c=z(T, N, H), lengths=lens, blas_small=0, n0=0, n1=N)),
    "lstm_backward_kernel": (K.lstm_backward_kernel, dict(d_out=z(T, N, P), d_h_n=z(N, P), d_c_n=z(N, H), w_hh=z(4 * H, P),
                             w_hr=z(P, H), c=z(T + 1, N, H), gates=z(T, N, 4 * H), tanh_c=z(T, N, H), lengths=lens,
                             d_a=z(T, N, 4 * H), dh_all=z(T, N, P), dh0=z(N, P), dc0=z(N, H), blas_small=0, n0=0, n1=N)),
    "gru_forward_kernel": (K.gru_forward_kernel, dict(xw=z(T, N, 3 * H), w_hh_t=z(H, 3 * H), b_hh=z(3 * H), h=z(T + 1, N, H),
                           gates=z(T, N, 3 * H), a_hn=z(T, N, H), lengths=lens, blas_small=0, n0=0, n1=N)),
    "gru_backward_kernel": (K.gru_backward_kernel, dict(d_out=z(T, N, H), d_h_n=z(N, H), w_hh=z(3 * H, H), h=z(T + 1, N, H),
                            gates=z(T, N, 3 * H), a_hn=z(T, N, H), lengths=lens, d_ax=z(T, N, 3 * H),
                            d_ah=z(T, N, 3 * H), dh_all=z(T, N, H), dh0=z(N, H), blas_small=0, n0=0, n1=N)),
}
report = {}
for name, (fn, args) in cases.items():
    fn(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()})   # the valid call runs
    for arg, v in args.items():
        if not isinstance(v, np.ndarray) or arg == "xw" or (name.endswith("backward_kernel") and arg in ("d_out", "tanh_c")):
            continue                      # the arrays the sizes are read from
        for bad in (v[:-1], v[..., :-1]):  # one too few along the first or the last axis
            if bad.size == v.size:
                continue
            bad_args = dict(args, **{arg: np.ascontiguousarray(bad)})
            try:
                fn(**bad_args)
                outcome = "accepted"
            except ValueError as e:
                outcome = "ValueError" if name in str(e) else "ValueError without the kernel's name: " + str(e)
            report[f"{name}:{arg}:{bad.shape}"] = outcome
print(json.dumps(report))
'''


def test_every_kernel_refuses_every_wrongly_shaped_array():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"the child died (exit {proc.returncode}): {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(report) >= 40, report               # the table really covers the arrays of all six kernels
    wrong = {case: outcome for case, outcome in report.items() if outcome != "ValueError"}
    assert not wrong, wrong


def test_matmul_add_refuses_mismatched_operands():
    import numpy as np
    from scratchrnn import kernels
    a, b = np.ones((2, 3)), np.ones((3, 5))
    with pytest.raises(ValueError, match=r"expected a \(N, K\), b \(K, M\)"):
        kernels.matmul_add(None, a, b[:2], 0)
    with pytest.raises(ValueError, match=r"c \(N, M\)"):
        kernels.matmul_add(np.ones((2, 4)), a, b, 0)
    np.testing.assert_allclose(kernels.matmul_add(np.ones((2, 5)), a, b, 0), 1 + a @ b)
