"""What the build runs, kept between builds (a helper of the hooks, not a hook).

A page's figures (``pages.py``) are stored as one JSON file named by the hash of everything
that made them: the code that runs, the files of ``docs/`` that code names (data it reads,
such as ``benchmarks/results.json``), the code that runs it, the sources of ``selfattn`` and
the versions of Python, numpy and matplotlib. So a prose edit finds every result here, a
code edit reruns that page only, and a change to ``selfattn/`` reruns every page.

The folder is ``.cache/build/`` beside ``mkdocs.yml`` (git-ignored), or the folder named by
``SELFATTN_BUILD_CACHE``. ``SELFATTN_BUILD_CACHE=off`` turns the cache off: the tests build
the site that way, so they always run the code.
"""

import hashlib
import json
import os
import platform
from importlib.metadata import version
from pathlib import Path

SETTING = "SELFATTN_BUILD_CACHE"


def folder(config):
    """The cache's folder, or None when ``SELFATTN_BUILD_CACHE=off``."""
    setting = os.environ.get(SETTING, "")
    if setting == "off":
        return None
    return Path(setting) if setting else Path(config.config_file_path).parent / ".cache" / "build"


def files_hash(folder, paths):
    """The hash of ``paths`` (files in ``folder``), names and contents."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class Results:
    """One kind of result (``figures``), in a folder of its own.

    ``key(code, ...)`` hashes the code (a list of blocks or cells), the files of ``docs/``
    it names and its other arguments (JSON) with the ``selfattn`` sources and the versions;
    ``get(key)`` returns what ``put(key, value)`` stored, in this build or an earlier one, or
    None. ``forget_unused()`` deletes the results this build did not use, so the folder
    holds one result per page.
    """

    def __init__(self, config, kind):
        base = folder(config)
        self.folder = base / kind if base else None
        package = Path(config.config_file_path).parent / "selfattn"
        self.docs = Path(config.docs_dir)
        self.data = [path for path in self.docs.rglob("*") if path.is_file() and path.suffix not in (".md", ".ipynb")]
        self.salt = [
            kind,
            files_hash(package, package.rglob("*.py")),
            platform.python_version(),
            version("numpy"),
            version("matplotlib"),
        ]
        self.used = set()

    def key(self, code, *parts):
        text = "\n".join(code)
        named = files_hash(self.docs, [path for path in self.data if path.name in text])
        return hashlib.sha256(json.dumps([*self.salt, code, named, *parts]).encode()).hexdigest()

    def _path(self, key):
        path = self.folder / f"{key}.json"
        self.used.add(path)
        return path

    def get(self, key):
        if self.folder is None:
            return None
        try:
            return json.loads(self._path(key).read_text())
        except (FileNotFoundError, ValueError):  # not there, or cut short by a crash
            return None

    def put(self, key, value):
        if self.folder is None:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(value))
        partial.replace(path)  # whole or not at all, even if two builds write at once

    def forget_unused(self):
        if self.folder is None or not self.folder.is_dir():
            return
        for path in self.folder.glob("*.json"):
            if path not in self.used:
                path.unlink(missing_ok=True)
