"""torch's LSTM forward+backward alone, timed in one process: torch_threads.md.

python torch_threads.py T N H SECONDS [THREADS]: 20 untimed calls, then seven samples of
SECONDS / 7 each, printed as the mean ms per call of each sample.
"""
import os
import sys
import time

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")   # as the harness sets it (huge pages for torch)
import torch  # noqa: E402

T, N, H = map(int, sys.argv[1:4])
seconds = float(sys.argv[4])
torch.manual_seed(0)
if len(sys.argv) > 5:
    torch.set_num_threads(int(sys.argv[5]))
m = torch.nn.LSTM(H, H)
x, d_out = torch.randn(T, N, H), torch.randn(T, N, H)


def call():
    m.zero_grad()
    out, _ = m(x)
    out.backward(d_out)


for _ in range(20):
    call()
samples = []
for _ in range(7):
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds / 7:
        call()
        n += 1
    samples.append((time.perf_counter() - t0) / n * 1e3)
print(T, N, H, "torch ms per call:", [round(v, 3) for v in samples], "threads", torch.get_num_threads())
