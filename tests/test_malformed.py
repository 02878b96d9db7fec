"""Every public function, fed malformed values: a clear error or a correct result, nothing else.

"Clear error": exactly the builtin TypeError/ValueError (or a documented subclass: DataError,
CheckpointError, GradcheckError), raised by scratchrnn's own code, its message saying what
came. "Correct result": equal to an independent NumPy computation of the same thing. The
functional layer, whose Numba kernels do not check bounds, runs in a child process
(malformed_functional.py) so that a crash fails one test instead of killing pytest.
The module forward/backward paths of RNN, LSTM, GRU and their cells are searched in test_validation.py.
"""

import gzip
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchrnn as sr
from scratchrnn import checkpoint
from scratchrnn.apps import data
from scratchrnn.gradcheck import GradcheckError
from validation_helpers import PKG_DIR, SETTINGS

ROOT = Path(__file__).resolve().parent.parent
FEW = dict(max_examples=40, **SETTINGS)


def clear_or_correct(call, check, errors=(TypeError, ValueError)):
    """Run ``call()``: a clear error of one of ``errors``, or a result that ``check`` accepts."""
    try:
        result = call()
    except Exception as e:                       # noqa: BLE001  (the class of outcome is the point)
        assert isinstance(e, errors), f"{type(e).__module__}.{type(e).__name__}: {e}"
        assert type(e).__module__ == "builtins" or type(e) in (data.DataError, checkpoint.CheckpointError,
                                                              GradcheckError), type(e)
        frames = []
        tb = e.__traceback__
        while tb is not None:
            frames.append(Path(tb.tb_frame.f_code.co_filename).resolve())
            tb = tb.tb_next
        assert PKG_DIR in frames[-1].parents, f"raised in {frames[-1]}, not by scratchrnn's checks: {e}"
        msg = str(e)
        assert any(w in msg for w in ("got", "contains", "expected", "cannot", "not ", "empty", "must")), msg
        return e
    check(result)
    return result


def test_functional_in_a_child_process():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"),
                                                      os.environ.get("PYTHONPATH", "")]))
    env.setdefault("MALFORMED_EXAMPLES", "40")
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "malformed_functional.py")], env=env,
                          capture_output=True, text=True, timeout=600)
    last = [line for line in proc.stdout.splitlines() if line.startswith("case:")][-1:]
    assert proc.returncode == 0, (f"exit {proc.returncode} (a negative code is the signal that killed it) "
                                  f"during {last}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    assert proc.stdout.rstrip().endswith("all clear")


# ---------------------------------------------------------------- arrays of every kind

DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.bool_, np.complex64]


def any_array(min_dims=0, max_dims=3, max_side=4):
    """Arrays of any dtype and shape, NaN/inf included, sometimes non-contiguous."""
    def build(dtype):
        elems = None
        if np.dtype(dtype).kind == "f":
            elems = st.floats(-1e3, 1e3, allow_nan=False, width=np.dtype(dtype).itemsize * 8) | \
                st.sampled_from([np.nan, np.inf, -np.inf])
        return hnp.arrays(dtype, hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0,
                                                  max_side=max_side), elements=elems)
    return st.tuples(st.sampled_from(DTYPES).flatmap(build), st.booleans()).map(
        lambda p: p[0][..., ::-1] if p[1] and p[0].ndim else p[0])


junk = st.sampled_from([None, "x", 1, 2.5, True, [1.0, 2.0], {"a": 1}, object()])


# ---------------------------------------------------------------- losses and one_hot

def _ce_reference(logits, targets):
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(targets)), targets].mean()


@given(logits=any_array(0, 3) | junk, targets=any_array(0, 2) | junk)
@settings(**FEW)
def test_cross_entropy(logits, targets):
    def check(res):
        loss, d = res
        assert d.shape == logits.shape and d.dtype == logits.dtype
        tol = 1e-5 if logits.dtype == np.float32 else 1e-12        # float32 log-softmax rounding
        np.testing.assert_allclose(float(loss), _ce_reference(logits, np.asarray(targets)), rtol=tol, atol=tol)
    clear_or_correct(lambda: sr.cross_entropy(logits, targets), check)


@given(pred=any_array(0, 3) | junk, target=any_array(0, 3) | junk)
@settings(**FEW)
def test_mse_loss(pred, target):
    def check(res):
        loss, d = res
        ref = np.mean((pred.astype(np.float64) - target) ** 2)
        np.testing.assert_allclose(float(loss), ref, rtol=1e-5)   # float32 accumulation
        np.testing.assert_allclose(d, 2 * (pred - target) / pred.size, rtol=1e-6)
    clear_or_correct(lambda: sr.mse_loss(pred, target), check)


@given(idx=any_array(0, 2) | junk, num_classes=st.integers(-2, 6) | junk,
       dtype=st.sampled_from([np.float32, np.float64, "float32", None, "bogus", np.int64, float]))
@settings(**FEW)
def test_one_hot(idx, num_classes, dtype):
    def check(out):
        assert out.dtype in (np.float32, np.float64)
        np.testing.assert_array_equal(out, np.eye(num_classes)[idx])
    clear_or_correct(lambda: sr.one_hot(idx, num_classes, dtype=dtype), check)


# ---------------------------------------------------------------- Linear, GRU and its cell

@given(x=any_array(0, 3), bias=st.booleans())
@settings(**FEW)
def test_linear_forward_and_backward(x, bias):
    lin = sr.Linear(4 if x.ndim == 0 else max(x.shape[-1], 1), 3, bias=bias, dtype=np.float64, seed=0)
    w = lin.state_dict()

    def check(y):
        ref = x @ w["weight"].T + (w["bias"] if bias else 0)
        np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
        dx = lin.backward(np.ones_like(y))
        np.testing.assert_allclose(dx, np.ones_like(y) @ w["weight"], rtol=1e-12, atol=1e-12)
    clear_or_correct(lambda: lin(x), check)


@pytest.mark.parametrize("make, x", [
    (lambda: sr.GRU(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=0), (5, 2, 3)),
    (lambda: sr.GRUCell(3, 4, dtype=np.float64, seed=0), (2, 3)),
])
def test_gru_rejects_malformed_input(make, x):
    m = make()
    good = np.random.default_rng(0).standard_normal(x)
    m(good)
    cases = [good.astype(np.float32), good[..., :2], good.tolist(), good[None], np.full(x, np.nan)]
    for bad in cases:
        e = clear_or_correct(lambda: m(bad), lambda r: pytest.fail(f"accepted {type(bad)}"))
        assert "input" in str(e)
    view = np.repeat(good[..., None], 2, axis=-1)[..., 0]               # non-contiguous: same result
    ref = m(good)
    got = m(view)
    np.testing.assert_array_equal(got[0] if isinstance(got, tuple) else got, ref[0] if isinstance(ref, tuple) else ref)


@pytest.mark.parametrize("dtype", [None, "bogus", "f4", float, np.float16, np.dtype(">f8"), "complex128"])
@pytest.mark.parametrize("cls", [sr.RNN, sr.LSTM, sr.GRU, sr.RNNCell, sr.LSTMCell, sr.GRUCell, sr.Linear])
def test_dtype_accepts_float32_and_float64_only(cls, dtype):
    e = clear_or_correct(lambda: cls(3, 4, dtype=dtype), lambda m: pytest.fail(f"built {m!r}"))
    assert "float32 or float64" in str(e) and repr(dtype) in str(e)
    for ok in (np.float32, "float32", np.dtype("float32"), np.float64, "float64", np.dtype("float64")):
        assert cls(3, 4, dtype=ok).dtype == np.dtype(ok)


# ---------------------------------------------------------------- clipping and optimizers

numbers_ = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-3, 3) | junk


@given(max_norm=numbers_, which=st.sampled_from(["one", "list", "empty", "junk", "nested"]))
@settings(**FEW)
def test_clip_grad_norm(max_norm, which):
    a, b = sr.Linear(2, 3, dtype=np.float64, seed=0), sr.Linear(3, 1, dtype=np.float64, seed=1)
    for m in (a, b):
        for g in m.grads.values():
            g[...] = np.random.default_rng(2).standard_normal(g.shape)
    before = np.concatenate([g.ravel() for m in (a, b) for g in m.grads.values()])
    modules = {"one": a, "list": [a, b], "empty": [], "junk": [a, "b"], "nested": [[a]]}[which]

    def check(total):
        listed = [a] if which == "one" else [a, b]
        g0 = np.concatenate([g.ravel() for m in listed for g in m.grads.values()])
        ref = np.sqrt(np.sum(before[: g0.size] ** 2))
        np.testing.assert_allclose(total, ref, rtol=1e-12)
        coef = min(1.0, float(max_norm) / (ref + 1e-6))
        np.testing.assert_allclose(g0, before[: g0.size] * coef, rtol=1e-12)
    clear_or_correct(lambda: sr.clip_grad_norm(modules, max_norm), check)
    clear_or_correct(lambda: sr.clip_grad_value(modules, max_norm), lambda r: None)


@given(lr=numbers_, momentum=numbers_, betas=st.tuples(numbers_, numbers_) | junk, eps=numbers_,
       weight_decay=numbers_)
@settings(**FEW)
def test_optimizer_arguments(lr, momentum, betas, eps, weight_decay):
    m = sr.Linear(2, 2, seed=0)
    # An SGD step of p − lr·λ·p past float32's largest value is inf, in torch too: outside
    # what any check of the settings alone can promise.
    if all(type(v) in (int, float) and np.isfinite(v) for v in (lr, weight_decay)):
        biggest = max(float(np.abs(p).max()) for _, p in m.named_parameters())
        assume(abs(lr * weight_decay) * biggest < float(np.finfo(np.float32).max) / 2)

    def steps_finite(o):             # zero gradients: any accepted setting keeps the weights finite
        o.step()
        assert all(np.isfinite(p).all() for _, p in m.named_parameters())
    clear_or_correct(lambda: sr.SGD(m, lr, momentum=momentum, weight_decay=weight_decay), steps_finite)
    clear_or_correct(lambda: sr.Adam([m], lr, betas=betas, eps=eps, weight_decay=weight_decay), steps_finite)


@pytest.mark.parametrize("make, name", [
    (lambda m: sr.SGD(m, 0.1, weight_decay=3.5e38), "weight_decay must be representable"),
    (lambda m: sr.SGD(m, 3.5e38), "lr must be representable"),
    (lambda m: sr.Adam(m, eps=3.5e38), "eps must be representable"),
    (lambda m: sr.Adam(m, lr=1e38, betas=(0.999, 0.9)), r"lr / \(1 - betas\[0\]\) must be representable"),
    (lambda m: sr.Adam(m, eps=1e-50), "eps must be > 0"),                  # 0 in float32: 0/0 steps
])
def test_optimizer_settings_past_the_weights_dtype_are_refused(make, name):
    """Finite as Python floats, inf (or eps 0) in float32: every step would make the weights NaN
    (torch refuses the overflows too); float64 weights hold them."""
    m32, m64 = sr.Linear(2, 2, seed=0), sr.Linear(2, 2, dtype="float64", seed=0)
    with pytest.raises(ValueError, match=f"^{name} .*in float32"):
        make(m32)
    make(m64).step()
    assert all(np.isfinite(p).all() for _, p in m64.named_parameters())


# ---------------------------------------------------------------- gradcheck

def _linear_problem(wrong):
    rng = np.random.default_rng(0)
    inputs = dict(w=rng.standard_normal((3, 2)), x=rng.standard_normal(2))

    def fn(w, x):
        def vjp(u):
            return dict(w=np.outer(u[0], x) * (0.5 if wrong else 1.0), x=w.T @ u[0])
        return w @ x, vjp
    return fn, inputs


@given(eps=numbers_, tol=numbers_, floor=numbers_, max_probes=st.none() | st.integers(-2, 8) | junk)
@settings(**FEW)
def test_gradcheck_never_passes_a_wrong_gradient(eps, tol, floor, max_probes):
    """Any setting gradcheck accepts catches a gradient that is 50 % off; the rest are refused."""
    fn, inputs = _linear_problem(wrong=True)
    e = clear_or_correct(lambda: sr.gradcheck(fn, inputs, eps=eps, tol=tol, floor=floor, max_probes=max_probes),
                         lambda r: pytest.fail(f"passed a wrong gradient: {r}"),
                         errors=(TypeError, ValueError, GradcheckError))
    if isinstance(e, GradcheckError):
        assert e.report["w"] > tol and "w" in str(e)


@pytest.mark.parametrize("make, words", [
    (lambda fn, i: sr.gradcheck(fn, {}), "non-empty dict"),
    (lambda fn, i: sr.gradcheck(fn, dict(i, x=np.zeros(0))), "empty"),
    (lambda fn, i: sr.gradcheck(fn, dict(i, x=np.array([np.nan, 1.0]))), "NaN"),
    (lambda fn, i: sr.gradcheck(lambda **kw: (fn(**kw)[0], lambda u: {}), i), "non-empty dict"),
    (lambda fn, i: sr.gradcheck(lambda **kw: (fn(**kw)[0], lambda u: {"z": 0}), i), "not inputs"),
    (lambda fn, i: sr.gradcheck(lambda **kw: fn(**kw)[0], i), "(outputs, vjp)"),
    (lambda fn, i: sr.gradcheck(fn, i, max_probes=0), "max_probes"),
    (lambda fn, i: sr.gradcheck(fn, i, tol=float("inf")), "tol"),
])
def test_gradcheck_refuses_what_checks_nothing(make, words):
    fn, inputs = _linear_problem(wrong=False)
    e = clear_or_correct(lambda: make(fn, inputs), lambda r: pytest.fail("accepted"))
    assert words in str(e)


# ---------------------------------------------------------------- data loaders and checkpoints

@given(blob=st.binary(max_size=64), kind=st.sampled_from(["txt", "zip", "zip-member"]))
@settings(**FEW)
def test_load_corpus_on_arbitrary_bytes(tmp_path_factory, blob, kind):
    folder = tmp_path_factory.mktemp("corpus")
    path = folder / ("c.txt" if kind == "txt" else "c.zip")
    if kind == "zip-member":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("a.txt", blob)
    else:
        path.write_bytes(blob)

    def check(text):
        assert text == blob.decode("utf-8").replace("\n", " ").replace("\r", " ") and text
    e = clear_or_correct(lambda: data.load_corpus(path), check)
    if isinstance(e, Exception):
        assert str(path) in str(e) or "empty" in str(e)
    assert os.listdir(folder) == [path.name]


@given(blob=st.binary(max_size=40), gz=st.booleans(), magic=st.sampled_from([None, 2049, 2051]))
@settings(**FEW)
def test_load_mnist_on_arbitrary_bytes(tmp_path_factory, blob, gz, magic):
    root = tmp_path_factory.mktemp("mnist")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    labels = (magic.to_bytes(4, "big") if magic else b"") + blob
    images = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (1, 28, 28)) + bytes(784)
    for name, content in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        (raw / (name + ".gz" if gz else name)).write_bytes(gzip.compress(content) if gz else content)
    before = sorted(os.listdir(raw))

    def check(res):
        x, y = res
        assert x.shape == (1, 28, 28) and y.shape == (1,) and 0 <= y[0] <= 9 and labels[8] == y[0]
    with _quiet():
        e = clear_or_correct(lambda: data.load_mnist(root, train=False, download=False), check)
    if isinstance(e, Exception):
        assert "t10k-labels-idx1-ubyte" in str(e)
    assert sorted(os.listdir(raw)) == before


@given(blob=st.binary(max_size=300))
@settings(**FEW)
def test_checkpoint_load_on_arbitrary_bytes(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("ckpt") / "c.npz"
    good = io.BytesIO()
    np.savez(good, w=np.arange(4.0))
    path.write_bytes(good.getvalue()[: len(blob)] + blob if blob[:1] == b"P" else blob)
    clear_or_correct(lambda: checkpoint.load(path), lambda d: isinstance(d, dict),
                     errors=(checkpoint.CheckpointError,))


@given(text=st.text(max_size=8), idx=any_array(0, 2) | junk, n=st.integers(-2, 40) | junk,
       b=st.integers(-1, 4) | junk, t=st.integers(-1, 4) | junk, span=numbers_)
@settings(**FEW)
def test_vocab_samplers_and_sine(text, idx, n, b, t, span):
    clear_or_correct(lambda: data.Vocab.from_text(text), lambda v: v.decode(v.encode(text)) == text)
    v = data.Vocab.from_text("abcd")
    clear_or_correct(lambda: v.decode(idx), lambda s: s == "".join("abcd"[i] for i in np.asarray(idx).ravel()))
    corpus = np.arange(n) if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else n
    clear_or_correct(lambda: list(data.consecutive_batches(corpus, b, t)),
                     lambda bs: all(np.array_equal(y, x + 1) for x, y in bs))
    clear_or_correct(lambda: list(data.random_batches(corpus, b, t, np.random.default_rng(0))),
                     lambda bs: all(np.array_equal(y, x + 1) for x, y in bs))
    clear_or_correct(lambda: list(data.sine_segments(b, t, span=span)),
                     lambda segs: all(x.shape == (t, 1, 1) for x, _ in segs))


class _quiet:
    """The md5 warning of tiny test files is expected here; other warnings still show."""

    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.filterwarnings("ignore", message=".*md5.*")

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)
