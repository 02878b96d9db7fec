"""A grid result row as ``scratchrnn bench`` saves it, for tests of what reads the rows."""

from scratchrnn.bench import spec


def row(model, T, N, H, impl, median_s, peak_fraction=None, dtype="float32", pass_="fwdbwd",
        flagged=False, peak_gflops=None):
    """One ok row at (model, T, N, H), I = H, with its FLOPs and GFLOP/s as the harness adds them;
    ``peak_gflops``: the run's GEMM peak for the dtype, where a test needs the bound."""
    r = dict(model=model, T=T, N=N, H=H, I=H, impl=impl, dtype=dtype, status="ok",
             median_s=median_s, peak_fraction=peak_fraction, spread=0.01, n_rejected=0,
             flagged=flagged, flags=["spread 50% > 10%"] if flagged else [], **{"pass": pass_})
    r["flops"] = spec.flops(model, pass_, T, N, H, H)
    r["gflops"] = r["flops"] / median_s / 1e9
    if peak_gflops is not None:
        r["peak_gflops"] = peak_gflops
    return r
