#!/usr/bin/env bash
# one_sequence_accuracy.py with the package before its own loops added c last (ad79965, in a
# worktree of its own) and as it is (the checkout this script is in), then as it is with one
# row's products in the own loops. Run from anywhere in the checkout; writes
# one_sequence_accuracy.txt beside this script.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(git -C "$here" rev-parse --show-toplevel)"
before="$(mktemp -d)/before"
git -C "$root" worktree add -q --detach "$before" ad79965
trap 'git -C "$root" worktree remove --force "$before"' EXIT
{
    PYTHONPATH="$before" python "$here/one_sequence_accuracy.py"
    PYTHONPATH="$root" python "$here/one_sequence_accuracy.py"
    PYTHONPATH="$root" python "$here/one_sequence_accuracy.py" --own-loops
} > "$here/one_sequence_accuracy.txt"
