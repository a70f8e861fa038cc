"""Run code as a reader who pasted it into Python would: a top-level statement at a time,
the session going on after an error.

``Sessions()`` starts this file as a process of its own and hands it pages one by one
(``run(page, code)``), so that it runs a page while the browser looks at the next one;
``results()`` then says, for each page, every statement that raised, as ``[line, error
type, message]``. Each page runs in a fresh namespace; its prints are dropped and
matplotlib draws off screen. A page whose code does not parse gets its ``SyntaxError``
alone; a page that needs a module that is not installed stops at its import
(``ModuleNotFoundError``), as there is nothing to learn from the ``NameError``s after it.
"""

import ast
import contextlib
import io
import json
import os
import queue
import subprocess
import sys
import threading
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


class Sessions:
    """``with Sessions() as sessions:`` runs pasted pages in a process of its own."""

    def __init__(self):
        env = {**os.environ, "MPLBACKEND": "Agg"}
        self.process = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.pages = queue.Queue()
        self.writer = threading.Thread(target=self._write, daemon=True)  # the pipe holds 64 kB at most
        self.writer.start()

    def _write(self):
        for line in iter(self.pages.get, None):
            self.process.stdin.write(line)
            self.process.stdin.flush()
        self.process.stdin.close()

    def run(self, page, code):
        self.pages.put(json.dumps([page, code]) + "\n")

    def results(self, timeout=300):
        """{page: [[line, error type, message], ...]} for every page run."""
        self.pages.put(None)
        self.writer.join()  # every page written, and the input closed
        with self.process.stdout:
            out = self.process.stdout.read()
        self.process.wait(timeout=timeout)
        if self.process.returncode != 0:
            raise RuntimeError(f"the pasted sessions stopped (exit status {self.process.returncode})")
        return dict(json.loads(line) for line in out.splitlines())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()


def main():
    import matplotlib.pyplot as plt
    import numpy as np

    defaults = np.get_printoptions()
    for line in sys.stdin:
        page, code = json.loads(line)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a session shows them and goes on
            errors = run_session(code)
        plt.close("all")
        np.set_printoptions(**defaults)
        print(json.dumps([page, errors]), flush=True)


if __name__ == "__main__":
    main()
