"""The readable report of a check, and its JSON form."""

from scratchrnn.registry import KINDS

FORWARD = ("out", "h_n", "c_n", "loss")


def table(results, target, header):
    """The whole report as text: one row per case, then every failure's diagnosis, then skips."""
    lines = [header, ""]
    rows = [("case", "checked with", "status", "forward", "gradients", "diagnosis")]
    for r in results:
        if r.status == "skip":
            continue                                # listed with their reasons at the end
        fwd = [e for k, e in r.errors.items() if k in FORWARD]
        grd = [e for k, e in r.errors.items() if k not in FORWARD]
        rows.append((r.name, r.via, r.status.upper(), _num(max(fwd, default=None)),
                     _num(max(grd, default=None)), summary(r, target)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        lines.append(("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[5]).rstrip())
    for r in results:
        if r.status == "fail":
            lines += ["", f"FAIL {r.name}  ({r.via}; exercises {', '.join(r.equations) or 'no labelled equation'})"]
            lines += ["  " + line for line in details(r, target)]
        elif r.status == "error":
            lines += ["", f"ERROR {r.name}  ({r.via}): {r.reason}"]
    skipped = [r for r in results if r.status == "skip"]
    if skipped:
        lines += ["", f"skipped {len(skipped)} case{'s' * (len(skipped) != 1)}:"]
        lines += [f"  {r.name}: {r.reason}" for r in skipped]
    return "\n".join(lines)


def summary(r, target):
    """One line: the wrong tensors with their kinds, gates and the first wrong step."""
    if r.status in ("skip", "error"):
        return r.reason if r.status == "error" else "skipped"
    if r.status == "pass":
        return ""
    parts = []
    for f in r.findings[:4]:
        gates = f" [{','.join(f.gates)}]" if f.gates and len(f.gates) < _n_gates(r, f) else ""
        parts.append(f"{_name(target, f.tensor)}{gates}: {f.kind}")
    more = len(r.findings) - 4
    s = "; ".join(parts) + (f"; +{more} more" if more > 0 else "")
    if r.step:
        s += f"; first wrong step {r.step.step}/{r.step.steps} ({r.step.quantity})"
    return s


def details(r, target):
    """The diagnosis of one failing case, a line per wrong tensor."""
    kind = r.kind
    w = max(len(_name(target, f.tensor)) for f in r.findings)
    lines = []
    for f in r.findings:
        where = ""
        if f.gates and kind in KINDS and len(f.gates) == len(KINDS[kind].gate_names):
            where = "  all gate blocks"
        elif f.gates and kind in KINDS:
            where = "  gate " + ", ".join(f"{g} ({_where(target, kind, g, f.tensor)})" for g in f.gates)
        direction = f"  [{f.direction} direction]" if f.direction == "reverse" else ""
        lines.append(f"{_name(target, f.tensor).ljust(w)}  error {_num(f.error)}  {f.kind}: {f.detail}"
                     f"{where}{direction}")
    if r.skipped_tensors:
        lines += [f"{_name(target, k)}: not compared, {why}" for k, why in r.skipped_tensors.items()]
    if r.step:
        layers = f" (layer{'s' * (len(r.step.layers) > 1)} {', '.join(map(str, r.step.layers))})" \
            if r.step.layers else ""
        lines.append(f"first wrong step going backwards: step {r.step.step} of {r.step.steps}{layers}: "
                     f"{r.step.detail}")
    lines += [f"hint: {h}" for h in r.hints]
    return lines


def to_json(results, target, meta):
    return dict(meta, target=target.label, layout=target.layout,
                results=[dict(r.to_json(), names={f.tensor: _name(target, f.tensor) for f in r.findings})
                         for r in results])


def _n_gates(r, f):
    return len(KINDS[r.kind].gate_names) if r.kind in KINDS else 0


def _where(target, kind, gate, tensor):
    """Where a gate block lives in the user's layout: rows of W (torch) or columns of Wx (CS231n)."""
    order = target.gate_order.get(kind, KINDS[kind].gate_names)
    j = order.index(gate)
    span = f"{j}H:{j + 1}H".replace("0H", "0").replace("1H", "H")
    if tensor.startswith("grad_bias"):
        return f"entries {span}"
    return f"{'columns' if target.layout == 'cs231n' else 'rows'} {span}"


def _name(target, key):
    user = target.names.get(key)
    return f"{user} ({key})" if user and user != key else key


def _num(e):
    if e is None:
        return "-"
    return "inf" if e == float("inf") else f"{e:.1e}"
