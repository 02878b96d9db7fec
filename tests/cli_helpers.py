"""Running the command line in-process: its exit code and what it printed."""

import contextlib
import io

from scratchrnn.apps import cli


def run(argv):
    """(exit code, stdout, stderr) of ``scratchrnn argv``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()
