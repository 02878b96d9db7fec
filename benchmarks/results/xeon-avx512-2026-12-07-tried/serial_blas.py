"""One sequence's LSTM: BLAS on its own threads in the serial pass (as the package runs it),
against BLAS held on one thread around each pass, and against BLAS on one thread throughout.

    python benchmarks/results/xeon-avx512-2026-12-07-tried/serial_blas.py

With one sequence a pass runs serial (``kernels.team.blocks``), and its GEMMs (the input
projection, the gradient GEMMs) go to BLAS with its own threads. "held": each pass inside
``team.serial_blas``, as the passes in row blocks run, so the setting is made and undone twice a
call. "one thread": BLAS set to one thread before the variant's turn and set back after it, so
its calls pay no setting. A module's forward+backward, float32, I = H; 9 rounds of 51 calls each,
the three in turn (``rounds.py``).
"""
import numpy as np
from threadpoolctl import threadpool_limits

from scratchrnn import LSTM, functional
from scratchrnn.kernels import team

from rounds import alternate, header, paired   # this folder's

POINTS = [(128, 1, 32), (32, 1, 32), (128, 1, 128), (32, 1, 128)]   # (T, N, H): the small-work targets at N = 1
ROUNDS, CALLS = 9, 51
as_is = functional._run


def held(serial, blocked, nblocks, loop_nblocks, *args):
    """``functional._run`` with the serial pass, too, inside ``team.serial_blas``."""
    if nblocks > 1:
        return as_is(serial, blocked, nblocks, loop_nblocks, *args)
    with team.serial_blas(2):
        serial(*args, team.small_matrix_limit())


class OneThread:
    """A call under BLAS on one thread, set at the variant's first call of a turn (untimed, in
    ``alternate``) and undone at the first call of the next variant's turn."""
    limit = None

    @classmethod
    def enter(cls):
        if cls.limit is None:
            cls.limit = threadpool_limits(1, user_api="blas")

    @classmethod
    def leave(cls):
        if cls.limit is not None:
            cls.limit.restore_original_limits()
            cls.limit = None


def main():
    print(header())
    print(f"LSTM, float32, I = H, forward+backward of the module; {ROUNDS} rounds of {CALLS} calls, the "
          "three in turn; ms: median over the rounds; x/as is: median over the rounds of the ratio within a "
          "round (least – largest)")
    for T, N, H in POINTS:
        m = LSTM(H, H, dtype="float32", seed=0)
        rng = np.random.default_rng(1)
        x = rng.standard_normal((T, N, H)).astype(np.float32)
        d = rng.standard_normal((T, N, H)).astype(np.float32)
        assert team.blocks(T, N, H, 4 * H, np.float32) == 1, "a serial pass"

        def call(run, one_thread=False):
            def f():
                (OneThread.enter if one_thread else OneThread.leave)()
                functional._run = run
                try:
                    m(x)
                    m.backward(d)
                finally:
                    functional._run = as_is
            return f
        times = alternate({"as is": call(as_is), "held": call(held), "one thread": call(as_is, True)},
                          ROUNDS, CALLS)
        OneThread.leave()
        ms = {k: f"{np.median(v) * 1e3:.3f}" for k, v in times.items()}
        print(f"T={T} N={N} H={H}: as is {ms['as is']} ms, held {ms['held']}, one thread {ms['one thread']}; "
              f"held/as is {paired(times, 'held', 'as is')}, one thread/as is {paired(times, 'one thread', 'as is')}",
              flush=True)


if __name__ == "__main__":
    main()
