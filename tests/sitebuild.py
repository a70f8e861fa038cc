"""The site's build as the tests use it.

``build_site`` runs ``mkdocs build --strict`` into a folder of the tests' own, with the
build cache off (``SELFATTN_BUILD_CACHE=off``), so every page's code runs. ``load_hook``
imports a build hook of ``docs/hooks/`` as MkDocs does, for the tests that call its
functions directly. ``page_url`` says where a page of ``docs/`` ends up.

Used by the ``site`` fixture (``tests/conftest.py``) and the hook and notebook tests.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ROOT / "docs" / "hooks"


def build_site(site_dir):
    """Run ``mkdocs build --strict`` into ``site_dir``; return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "SELFATTN_BUILD_CACHE": "off"},
        capture_output=True,
        text=True,
    )


def load_hook(name):
    """``docs/hooks/<name>.py`` as a module, its folder on ``sys.path`` while it loads (as
    MkDocs loads hooks), so that it can import another (``copy_buttons`` imports ``pages``)."""
    spec = importlib.util.spec_from_file_location(f"hooks_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(HOOKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(HOOKS))
    return module


def page_url(page):
    """The URL of ``docs/<page>`` relative to the site's root, where MkDocs publishes it
    (``File.url``): ``masks.md`` -> ``masks/``, ``index.md`` -> ``./``; mkdocs-jupyter
    publishes ``journey.ipynb`` where a Markdown page of its name would be."""
    return File(str(PurePosixPath(page).with_suffix(".md")), "", "", True).url
