"""Fixtures shared by the tests that need the built site, and Chromium's launch."""

import os
import shutil

import pytest
from filelock import FileLock
from sitebuild import build_site


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The site, built once per test run with ``mkdocs build --strict``.

    Under pytest-xdist the workers share one build: the first to ask builds it while the
    others wait on a lock, in a folder named after this run.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    root = tmp_path_factory.getbasetemp().parent / f"site-{run}" if run else tmp_path_factory.mktemp("site")
    root.mkdir(exist_ok=True)
    site_dir, log = root / "site", root / "build.log"
    with FileLock(root / "build.lock"):
        if not log.exists():
            result = build_site(site_dir)
            log.write_text(f"{result.returncode}\n{result.stderr}")
    returncode, stderr = log.read_text().split("\n", 1)
    if returncode != "0":
        pytest.fail(f"mkdocs build --strict failed:\n{stderr}", pytrace=False)
    return site_dir


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's ``browser``: Debian's Chromium, headless, with no network beyond
    127.0.0.1 (every other host name fails at once)."""
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    args += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    args += ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    return {**browser_type_launch_args, "executable_path": shutil.which("chromium"), "args": args}
