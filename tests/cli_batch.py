"""Several ``hubwire`` commands in one process: ``python -m tests.cli_batch OUT_FILE '[["oauth-apps", "list"], ...]'``.

Each command runs as the console script runs it (``sys.exit(main(argv))``; an exception escaping
``main`` is printed as the interpreter prints it, exit code 1), with file descriptors 1 and 2 on
files of its own, so everything it writes (logs too) is its output. OUT_FILE receives one JSON list
of ``{"code", "out", "err"}``, in order. Starting Python and importing the CLI takes seconds on a
loaded machine: a test that checks several commands run with one environment pays that once.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from typing import Any

from hubwire.cli import main


def run(argv: list[str]) -> dict[str, Any]:
    """One command's exit code and what it wrote to stdout and stderr."""
    saved = (os.dup(1), os.dup(2))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            try:
                code: Any = main(argv)
            except SystemExit as exc:  # as the interpreter ends on it
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return {"code": code, "out": out.read().decode(), "err": err.read().decode()}


if __name__ == "__main__":
    results = [run(argv) for argv in json.loads(sys.argv[2])]
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(results, f)
