"""A reader with only ``pip install selfattn`` can run this site.

The sdist and the wheel are built as the release builds them (``BUILD``, then ``CHECK``:
``twine check --strict``), and the wheel is installed in a fresh virtual environment that
has no path into the repository: made by uv from the bare interpreter (none of this
environment's packages), with numpy and matplotlib, the versions installed here, from uv's
cache (about a second, where ``python -m venv`` and pip take ten or more). There, in an
empty folder, ``python -I`` (no ``PYTHONPATH``, no current folder on ``sys.path``) runs
what a reader gets: the code cells of every notebook the site offers for download, in
order, in one fresh namespace per notebook, as Jupyter's "Run all" does, and the Python
blocks of the README, as a reader copies them from PyPI. It reports where ``selfattn``
came from, which must be inside the environment.

Two things stop a notebook early, at the first code cell that needs them: PyTorch or
transformers, which are optional (the pages that use them say so; the rest of the suite
runs those cells with them), and files of the repository that a page reads
(``REPOSITORY_PAGES``: a reader of the site cannot run those cells). Before selfattn is
installed, one notebook runs where pip cannot reach an index: it must stop at its first
cell, showing pip's message.

The release (``.github/workflows/release.yml``) runs ``BUILD`` and ``CHECK`` into ``dist/``
and then this file with ``SELFATTN_DIST=dist``, so that the distributions it publishes
are the ones tested here; without ``SELFATTN_DIST`` this file builds its own.
"""

import email.parser
import glob
import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from sitebuild import ROOT, load_hook

import selfattn

BUILD = ["-m", "build", "--no-isolation", "--outdir"]  # then the folder
CHECK = ["-m", "twine", "check", "--strict"]  # then the files
VERSION = selfattn.__version__
NEEDS_OPTIONAL = re.compile(r"^\s*(?:import|from) (?:torch|transformers)\b", re.MULTILINE)  # PyTorch, transformers
READS_THE_REPOSITORY = re.compile(r"selfattn\.__file__\)\.parents")
# Pages whose code reads docs/benchmarks/results.json next to the package's sources: only a
# clone of the repository has it, not a reader with the wheel or a downloaded notebook.
REPOSITORY_PAGES = {"benchmarks.ipynb"}
pages_hook = load_hook("pages")
one_build = pytest.mark.xdist_group("wheel")  # the tests of the distributions, on one worker

# Runs in the fresh environment: each notebook (a JSON file of code cells) in one fresh
# namespace, in an empty folder, until a cell that needs what a reader may not have; then
# says on its last line where selfattn came from and where each notebook stopped.
RUNNER = r"""
import contextlib, json, re, sys, tempfile

stop = re.compile(sys.argv[1], re.MULTILINE)
stopped = {}
for path in sys.argv[2:]:
    cells = json.load(open(path))
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        namespace = {"__name__": "__main__"}
        for number, cell in enumerate(cells, start=1):
            if stop.search(cell):
                stopped[path] = number
                break
            exec(compile(cell, f"{path}, code cell {number}", "exec"), namespace)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
import selfattn
report = {"selfattn": selfattn.__file__, "version": selfattn.__version__, "path": sys.path, "stopped": stopped}
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory, site):
    """The sdist and the wheel: the release's (``SELFATTN_DIST``), or built here as it builds
    them, and checked by twine. (After the site: the tests that use them go to one worker,
    and if they started before the site is built, that worker would wait for it, idle.)"""
    if os.environ.get("SELFATTN_DIST"):
        folder = Path(os.environ["SELFATTN_DIST"]).resolve()
    else:
        folder = tmp_path_factory.mktemp("dist")
        run([sys.executable, *BUILD, str(folder)], cwd=ROOT)
        run([sys.executable, *CHECK, *sorted(glob.glob(f"{folder}/*"))], cwd=ROOT)
    (wheel,) = folder.glob("*.whl")
    (sdist,) = folder.glob("*.tar.gz")
    return wheel, sdist


def run(command, **options):
    result = subprocess.run(command, capture_output=True, text=True, **options)
    assert result.returncode == 0, f"{shlex.join(map(str, command))} failed:\n{result.stdout}{result.stderr}"
    return result


@one_build
def test_the_wheel_holds_the_package_only(dist):
    wheel, sdist = dist
    names = zipfile.ZipFile(wheel).namelist()
    info = f"selfattn-{VERSION}.dist-info/"
    assert {name for name in names if not name.startswith(info)} == {
        f"selfattn/{path.name}" for path in (ROOT / "selfattn").glob("*.py")
    } | {"selfattn/data/pride-and-prejudice.txt"}
    assert f"{info}licenses/LICENSE" in names
    sdist_names = {name.partition("/")[2] for name in tarfile.open(sdist).getnames()}
    assert {"README.md", "LICENSE", "CHANGELOG.md", "pyproject.toml", "selfattn/__init__.py"} <= sdist_names
    assert not {name for name in sdist_names if name.split("/")[0] in ("tests", "docs", "benchmarks")}


@one_build
def test_the_metadata_is_complete(dist):
    wheel, _ = dist
    with zipfile.ZipFile(wheel) as archive:
        metadata = email.parser.Parser().parsestr(archive.read(f"selfattn-{VERSION}.dist-info/METADATA").decode())
    assert metadata["Name"] == "selfattn" and metadata["Version"] == VERSION
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "MIT" and metadata["License-File"] == "LICENSE"
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().strip() == (ROOT / "README.md").read_text().strip()
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert {"Documentation", "Source", "Issues"} <= set(urls) and all(u.startswith("https://") for u in urls.values())
    assert "Programming Language :: Python :: 3.11" in metadata.get_all("Classifier")
    assert [r for r in metadata.get_all("Requires-Dist") if "extra ==" not in r] == ["numpy<3,>=1.26"]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(metadata.get_all("Provides-Extra")) == set(extras)
    if os.environ.get("GITHUB_REF_TYPE") == "tag":  # a release: its tag names this version
        assert os.environ["GITHUB_REF_NAME"] == f"v{VERSION}"


def test_the_readmes_links_work_on_pypi():
    """PyPI shows the README without the repository around it: a relative link would break."""
    targets = re.findall(r"\]\(([^)\s]+)\)|<([a-z]+:[^>\s]+)>", (ROOT / "README.md").read_text())
    targets = [a or b for a, b in targets]
    assert targets and [target for target in targets if not target.startswith("https://")] == []


def test_the_docs_name_the_version_they_document(site):
    """The version is written in one place, ``selfattn.__version__``; the site shows it on
    every page and under every API page's title, and the README, the home page and the
    changelog name it."""
    assert f"These pages document selfattn {VERSION}." in (site / "index.html").read_text()
    for page in (site / "api").glob("*/index.html"):
        assert f"This page documents selfattn {VERSION}." in page.read_text(), page
    for path in ("README.md", "docs/index.md"):
        named = set(re.findall(r"\bselfattn (\d+(?:\.\d+)+)", (ROOT / path).read_text()))
        assert named == {VERSION}, path
    assert re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)[1] == VERSION


def test_the_release_runs_these_commands():
    """What the release does is what this file does: BUILD and CHECK into dist/, then this
    file on them. (tests/test_workflow.py validates the workflow against GitHub's schema.)"""
    steps = [
        step.get("run", "")
        for job in yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())["jobs"].values()
        for step in job.get("steps", [])
    ]
    python = ".venv/bin/python"
    expected = [
        f"{python} {shlex.join(BUILD)} dist",
        f"{python} {shlex.join(CHECK)} dist/*",
        f"SELFATTN_DIST=dist {python} -m pytest -n0 tests/test_wheel.py",
    ]
    assert [step for step in steps if step in expected] == expected


def notebooks(site, folder):
    """Every notebook the site offers, as the list of its code cells' sources in a JSON file
    in ``folder``; and the README's Python blocks, as a reader copies them."""
    found = {path.name: path for path in sorted((site / "notebooks").glob("*.ipynb"))}
    found.update({path.name: path for path in site.glob("*/*.ipynb")})  # the notebook pages' own
    paths = {}
    for name, path in found.items():
        cells = [cell["source"] for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]
        paths[name] = folder / name
        paths[name].write_text(json.dumps(["".join(cell) for cell in cells]))
    readme = (ROOT / "README.md").read_text()
    paths["README.md"] = folder / "README.json"
    paths["README.md"].write_text(json.dumps([pages_hook.code_of(b) for _, _, b in pages_hook.python_blocks(readme)]))
    return paths


@one_build
def test_a_reader_runs_every_page_from_the_wheel(dist, site, tmp_path):
    wheel, _ = dist
    venv, work = tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    python = str(venv / "bin" / "python")
    uv = [sys.executable, "-m", "uv"]
    run([*uv, "venv", "--quiet", "--seed", "--python", sys.executable, str(venv)], cwd=work)
    paths = notebooks(site, tmp_path)
    stop = f"{NEEDS_OPTIONAL.pattern}|{READS_THE_REPOSITORY.pattern}"
    # No selfattn, and pip with no index: the notebook stops at its first cell, under pip's message.
    offline = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    offline.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1")
    command = [python, "-I", "-c", RUNNER, stop, str(paths["words-to-vectors.ipynb"])]
    first = subprocess.run(command, cwd=work, env=offline, capture_output=True, text=True)
    assert first.returncode != 0 and 'code cell 1"' in first.stderr and "code cell 2" not in first.stderr
    assert first.stderr.strip().splitlines()[-1].startswith("subprocess.CalledProcessError"), first.stderr
    assert f"No matching distribution found for selfattn=={VERSION}" in first.stdout, first.stdout

    versions = [f"{name}=={importlib.metadata.version(name)}" for name in ("numpy", "matplotlib")]
    reader = f"selfattn[gpt2] @ {wheel.as_uri()}"  # what `pip install "selfattn[gpt2]"` gives
    run([*uv, "pip", "install", "--quiet", "--python", python, reader, *versions], cwd=work)
    command = [python, "-I", "-c", RUNNER, stop, *map(str, paths.values())]
    result = run(command, cwd=work, env={**os.environ, "MPLBACKEND": "Agg"})
    report = json.loads(result.stdout.splitlines()[-1])
    assert Path(report["selfattn"]).is_relative_to(venv) and report["version"] == VERSION, report
    assert not [entry for entry in report["path"] if Path(entry).is_relative_to(ROOT)], report["path"]
    stopped = {Path(path).name for path in report["stopped"]}
    optional = {name for name, path in paths.items() if any(map(NEEDS_OPTIONAL.search, json.loads(path.read_text())))}
    assert stopped - optional == REPOSITORY_PAGES, "the pages that read the repository's files have changed"
    assert len(paths) - len(stopped) >= 20, f"only {len(paths) - len(stopped)} notebooks ran to the end"


def test_the_release_publishes_by_trusted_publishing_then_deploys_its_site():
    workflow = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    assert workflow[True] == {"push": {"tags": ["v*"]}}  # YAML 1.1 reads the key `on` as True
    jobs = workflow["jobs"]
    (pypi,) = [
        job for job in jobs.values() for step in job["steps"] if "gh-action-pypi-publish" in step.get("uses", "")
    ]
    assert pypi["permissions"] == {"id-token": "write"} and "with" not in pypi["steps"][-1]  # no token: OIDC
    assert pypi["needs"] == "package" and pypi["environment"]["name"] == "pypi"
    docs = jobs["docs"]
    assert docs["needs"] == "pypi" and docs["steps"][-1]["uses"].startswith("actions/deploy-pages@")
    uploads = [step["uses"].split("@")[0] for step in jobs["package"]["steps"] if "uses" in step]
    assert uploads[-2:] == ["actions/upload-artifact", "actions/upload-pages-artifact"]
