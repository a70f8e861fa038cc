"""Run code as a reader who pasted it into Python would: a top-level statement at a time,
the session going on after an error.

    python tests/session.py < pages.json > errors.json

Reads ``{page: code}`` (JSON) on stdin and runs each page's code in a fresh namespace, in
a process of its own (the pages' prints are dropped, matplotlib draws off screen). Writes
``{page: [[line, error type, message], ...]}``: every statement that raised. A page whose
code does not parse gets its ``SyntaxError`` alone; a page that needs a module that is
not installed stops at its import (``ModuleNotFoundError``), as there is nothing to learn
from the ``NameError``s that would follow.
"""

import ast
import contextlib
import io
import json
import os
import sys
import warnings


def run_session(code):
    """The errors of ``code`` run a statement at a time: ``[(line, type name, message)]``."""
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        return [(error.lineno, "SyntaxError", error.msg)]
    namespace, errors = {"__name__": "__main__"}, []
    for statement in tree.body:
        try:
            exec(compile(ast.Module([statement], type_ignores=[]), "<pasted>", "exec"), namespace)
        except Exception as error:
            message = (str(error).splitlines() or [""])[0][:200]
            errors.append((statement.lineno, type(error).__name__, message))
            if isinstance(error, ModuleNotFoundError):
                break
    return errors


def main():
    os.environ["MPLBACKEND"] = "Agg"
    import matplotlib.pyplot as plt
    import numpy as np

    defaults = np.get_printoptions()
    results = {}
    for page, code in json.load(sys.stdin).items():
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a session shows them and goes on
            results[page] = run_session(code)
        plt.close("all")
        np.set_printoptions(**defaults)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
