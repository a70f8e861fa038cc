"""The code reads one way: ruff's checks and its formatting (pyproject.toml) pass on everything in the repo."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).parent / "ruff"  # installed with the test tools, beside python
    result = subprocess.run([ruff, "check", "--no-cache", ROOT], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_would_reformat_nothing():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([ruff, "format", "--check", "--no-cache", ROOT], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
