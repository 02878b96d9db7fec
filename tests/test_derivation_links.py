"""docs/derivations.md, its code and its tests stay three clicks apart, and its listings run.

- Every equation label the document defines, e.g. ``**(L7)**``, is cited by the reference
  (``scratchrnn/reference/``), by the fast path (kernels, functional, modules) and by a test;
  every label cited anywhere in the code, the tests or the docs is defined.
- Under each equation, the *Code* links reach the reference, the fast path and a test, and
  every link ``path#La[-Lb]`` points at lines that still hold the label. A line holds
  ``(L7)`` if it contains ``(L7)`` or a range such as ``(L5)–(L10)``.
- The code listings in the document are the reference's functions, character for
  character, and the listing itself runs against torch.

After editing code, ``python tests/test_derivation_links.py --fix`` moves every broken
anchor to the nearest line that holds its label and refreshes the listings; review the diff.
"""

import inspect
import pathlib
import re
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "derivations.md"
FAST = ("scratchrnn/kernels/", "scratchrnn/functional.py", "scratchrnn/modules/")
LABEL = r"[RLPGSV]\d+"
DEFINITION = re.compile(rf"^\*\*\(({LABEL})\)\*\*", re.M)
CITED = re.compile(rf"\(({LABEL})\)(?:\s*[–-]\s*\(({LABEL})\))?")
LINK = re.compile(r"\[([^\]]*)\]\((\.\./[^)#\s]+)(?:#L(\d+)(?:-L(\d+))?)?\)")
LISTING = re.compile(r"<!-- listing: (\S+) (\w+) -->\n```python\n(.*?)```", re.S)


def labels_held(line):
    """The labels a line cites, ranges expanded: '(L5)–(L7)' holds L5, L6 and L7."""
    held = set()
    for first, last in CITED.findall(line):
        if last and last[0] == first[0]:
            held.update(f"{first[0]}{i}" for i in range(int(first[1:]), int(last[1:]) + 1))
        else:
            held.update(x for x in (first, last) if x)
    return held


def sections(text):
    """label -> (start, end) character span of its section: from its definition to the next
    definition or heading."""
    starts = [(m.start(), m.group(1)) for m in DEFINITION.finditer(text)]
    heads = [m.start() for m in re.finditer(r"^#{1,4} ", text, re.M)]
    spans = {}
    for i, (start, label) in enumerate(starts):
        ends = [s for s, _ in starts[i + 1:i + 2]] + [h for h in heads if h > start] + [len(text)]
        spans[label] = (start, min(ends))
    return spans


def target(link_path):
    return (DOC.parent / link_path).resolve()


def lines_of(path, cache={}):
    if path not in cache:
        cache[path] = path.read_text().splitlines()
    return cache[path]


def code_files(*prefixes):
    files = [p for p in ROOT.glob("scratchrnn/**/*.py")] + [p for p in ROOT.glob("tests/*.py")]
    return [p for p in files if str(p.relative_to(ROOT)).startswith(prefixes)]


def cited_in(paths):
    return set().union(*(labels_held(line) for p in paths for line in lines_of(p)))


TEXT = DOC.read_text()
DEFINED = DEFINITION.findall(TEXT)
SECTIONS = sections(TEXT)


def test_labels_are_defined_once():
    assert len(DEFINED) == len(set(DEFINED)), sorted(x for x in DEFINED if DEFINED.count(x) > 1)
    assert len(DEFINED) == 39                       # R1–R8, L1–L11, P1–P3, G1–G10, S1–S5, V1–V2
    assert {x[0] for x in DEFINED} == set("RLPGSV")


@pytest.mark.parametrize("where, prefixes", [
    ("the reference", ("scratchrnn/reference/",)),
    ("the fast path", FAST),
    ("a test", ("tests/",)),
])
def test_every_label_is_cited(where, prefixes):
    files = [p for p in code_files(*prefixes) if p.name != pathlib.Path(__file__).name]
    missing = sorted(set(DEFINED) - cited_in(files))
    assert not missing, f"defined in {DOC.name} but cited nowhere in {where}: {missing}"


def test_every_cited_label_is_defined():
    others = [p for p in ROOT.glob("*.md")] + [p for p in ROOT.glob("docs/*.md")]
    paths = code_files("scratchrnn/", "tests/") + others
    undefined = {}
    for p in paths:
        for i, line in enumerate(lines_of(p), 1):
            for label in labels_held(line) - set(DEFINED):
                undefined.setdefault(label, f"{p.relative_to(ROOT)}:{i}")
    assert not undefined, f"cited but not defined in {DOC.name}: {undefined}"


@pytest.mark.parametrize("label", DEFINED)
def test_equation_links_reference_fast_path_and_test(label):
    start, end = SECTIONS[label]
    links = [m.group(2) for m in LINK.finditer(TEXT[start:end]) if m.group(3)]
    paths = [str(target(p).relative_to(ROOT)) for p in links]
    assert any(p.startswith("scratchrnn/reference/") for p in paths), f"({label}): no link into the reference"
    assert any(p.startswith(FAST) for p in paths), f"({label}): no link into the fast path"
    assert any(p.startswith("tests/") for p in paths), f"({label}): no link to a test"


def test_links_point_at_their_label():
    """Every anchored link under an equation lands on lines that hold that equation's label."""
    wrong = []
    for label, (start, end) in SECTIONS.items():
        for m in LINK.finditer(TEXT[start:end]):
            if not m.group(3):
                continue
            lines = lines_of(target(m.group(2)))
            a, b = int(m.group(3)), int(m.group(4) or m.group(3))
            if not (1 <= a <= b <= len(lines)) or not any(label in labels_held(x) for x in lines[a - 1:b]):
                wrong.append(f"({label}) -> {m.group(2)}#L{a}" + (f"-L{b}" if b != a else "")
                             + f"; nearest holding line: {nearest(lines, label, a, m.group(2))}")
    assert not wrong, "links that no longer hold their label (python tests/test_derivation_links.py --fix):\n" \
        + "\n".join(wrong)


def test_every_link_resolves():
    bad = []
    for m in LINK.finditer(TEXT):
        path = target(m.group(2))
        if not path.exists():
            bad.append(m.group(2))
        elif m.group(3) and int(m.group(4) or m.group(3)) > len(lines_of(path)):
            bad.append(m.group(0))
    assert not bad, bad


def nearest(lines, label, near, link_path):
    """Line number (1-based) of the line holding ``label`` nearest to ``near``; in code files a
    line where the label is in a trailing ``#`` comment is preferred. None if no line holds it."""
    def holds(x):
        return label in labels_held(x)
    candidates = [i for i, x in enumerate(lines, 1) if holds(x)]
    if "/tests/" not in "/" + link_path:
        in_comment = [i for i in candidates if "#" in lines[i - 1] and holds(lines[i - 1].split("#", 1)[1])]
        candidates = in_comment or candidates
    return min(candidates, key=lambda i: (abs(i - near), i)) if candidates else None


def listings(text):
    return [(path, name, code) for path, name, code in LISTING.findall(text)]


def module_of(path):
    import importlib
    return importlib.import_module(path.removesuffix(".py").replace("/", "."))


def test_document_has_listings():
    assert {name for _, name, _ in listings(TEXT)} >= {"lstm_backward", "gru_backward"}


@pytest.mark.parametrize("path, name", [(p, n) for p, n, _ in listings(TEXT)])
def test_listing_is_the_reference_code(path, name):
    code = {(p, n): c for p, n, c in listings(TEXT)}[(path, name)]
    assert code == inspect.getsource(getattr(module_of(path), name)), \
        f"the listing of {name} in {DOC.name} differs from {path} (python tests/test_derivation_links.py --fix)"


@pytest.mark.parametrize("path, name", [(p, n) for p, n, _ in listings(TEXT)])
def test_listing_runs_against_torch(path, name):
    """The listing, executed from the document's text, gives torch's gradients (float64, lengths).

    Bound: max-norm relative error ≤ 1e-12, as in tests/test_reference.py (summation order only).
    """
    torch = pytest.importorskip("torch", reason="needs torch (not installed)")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    code = {(p, n): c for p, n, c in listings(TEXT)}[(path, name)]
    module = module_of(path)
    namespace = dict(vars(module))
    exec(compile(code, f"{DOC.name}: {name}", "exec"), namespace)
    backward = namespace[name]
    assert backward is not getattr(module, name)

    T, N, I, H = 5, 3, 3, 4
    lstm = name.startswith("lstm")
    P = 2 if lstm else H                              # the LSTM listing is run with a projection
    lengths = np.array([5, 2, 4])
    rng = np.random.default_rng(11)
    tm = (torch.nn.LSTM(I, H, proj_size=P, dtype=torch.float64) if lstm
          else torch.nn.GRU(I, H, dtype=torch.float64))
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.tensor(rng.uniform(-1, 1, p.shape)))   # distinct b_ih, b_hh
    w = {k: v.detach().numpy().copy() for k, v in tm.state_dict().items()}
    x = rng.standard_normal((T, N, I))
    states = [rng.standard_normal((N, P))] + ([rng.standard_normal((N, H))] if lstm else [])
    args = (w["weight_ih_l0"], w["weight_hh_l0"], w["bias_ih_l0"], w["bias_hh_l0"])
    if lstm:
        out, *finals, cache = module.lstm_forward(x, *states, *args, w_hr=w["weight_hr_l0"], lengths=lengths)
    else:
        out, *finals, cache = module.gru_forward(x, *states, *args, lengths=lengths)
    ups = [rng.standard_normal(out.shape)] + [rng.standard_normal(f.shape) for f in finals]
    grads = backward(*ups, cache)

    tx = torch.tensor(x, requires_grad=True)
    ts = [torch.tensor(s[None], requires_grad=True) for s in states]
    t_out, t_fin = tm(pack_padded_sequence(tx, torch.tensor(lengths), enforce_sorted=False),
                      tuple(ts) if lstm else ts[0])
    t_out, _ = pad_packed_sequence(t_out, total_length=T)
    t_fin = t_fin if lstm else (t_fin,)
    sum((t * torch.tensor(u if t.dim() == 3 and t is t_out else u[None])).sum()
        for t, u in zip((t_out,) + tuple(t_fin), ups)).backward()

    def close(ours, theirs, what):
        err = np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))
        assert err <= 1e-12, f"{what}: {err:.3g}"
    close(grads.dx, tx.grad.numpy(), "dx")
    close(grads.dh0, ts[0].grad.numpy()[0], "dh0")
    if lstm:
        close(grads.dc0, ts[1].grad.numpy()[0], "dc0")
    ours = {"weight_ih_l0": grads.dw_ih, "weight_hh_l0": grads.dw_hh, "bias_ih_l0": grads.db_ih,
            "bias_hh_l0": grads.db_hh, "weight_hr_l0": getattr(grads, "dw_hr", None)}
    for k, p in tm.named_parameters():
        close(ours[k], p.grad.numpy(), k)


def fix():
    """Repair broken anchors and refresh the listings.

    Per file, the shift that repairs most broken links (lines inserted or removed above them)
    is tried first, also on links below the first broken one that still hold their label by
    chance (a neighbour with the same label); a link the shift does not repair moves to the
    nearest line holding its label.
    """
    text = DOC.read_text()
    ordered = sorted(sections(text).items(), key=lambda kv: kv[1])

    def holds(path, label, a, b):
        lines = lines_of(target(path))
        return 1 <= a <= b <= len(lines) and any(label in labels_held(x) for x in lines[a - 1:b])

    broken = {}                                      # path -> [(label, a, b)]
    for label, (start, end) in ordered:
        for m in LINK.finditer(text[start:end]):
            a, b = int(m.group(3) or 0), int(m.group(4) or m.group(3) or 0)
            if m.group(3) and not holds(m.group(2), label, a, b):
                broken.setdefault(m.group(2), []).append((label, a, b))
    shift = {path: max(range(-60, 61), key=lambda k: (sum(holds(path, lab, a + k, b + k) for lab, a, b in links),
                                                       -abs(k)))
             for path, links in broken.items()}

    out, pos = [], 0
    for label, (start, end) in ordered:
        out.append(text[pos:start])

        def move(m):
            path = m.group(2)
            if not m.group(3):
                return m.group(0)
            a, b = int(m.group(3)), int(m.group(4) or m.group(3))
            k = shift.get(path, 0)
            below_an_edit = path in broken and a >= min(x for _, x, _ in broken[path])
            if holds(path, label, a, b) and not (below_an_edit and holds(path, label, a + k, b + k)):
                return m.group(0)                    # still right (a link below the edit moves too)
            if holds(path, label, a + k, b + k):
                return f"[{m.group(1)}]({path}#L{a + k}" + (f"-L{b + k}" if b != a else "") + ")"
            new = nearest(lines_of(target(path)), label, a, path)
            if new is None:
                print(f"({label}): no line of {path} holds it", file=sys.stderr)
                return m.group(0)
            return f"[{m.group(1)}]({path}#L{new})"
        out.append(LINK.sub(move, text[start:end]))
        pos = end
    out.append(text[pos:])
    text = "".join(out)

    def refresh(m):
        source = inspect.getsource(getattr(module_of(m.group(1)), m.group(2)))
        return f"<!-- listing: {m.group(1)} {m.group(2)} -->\n```python\n{source}```"
    text = LISTING.sub(refresh, text)
    DOC.write_text(text)


if __name__ == "__main__":
    if sys.argv[1:] != ["--fix"]:
        sys.exit("usage: python tests/test_derivation_links.py --fix")
    sys.path.insert(0, str(ROOT))
    fix()
