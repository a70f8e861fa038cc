"""The code reads one way: ruff's checks and its formatting (pyproject.toml) pass on everything in the repo."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args):
    """ruff (installed with the test tools, beside python) on the whole repo; fails with its report."""
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([ruff, *args, "--no-cache", ROOT], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_nothing():
    ruff("check")


def test_ruff_would_reformat_nothing():
    ruff("format", "--check")
