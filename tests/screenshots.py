"""Full-page screenshots of every page of the site, light and dark.

    .venv/bin/python tests/screenshots.py [outdir]      (default: screenshots/)

Builds the site with ``mkdocs build --strict`` into a temporary folder, serves it on
127.0.0.1 as ``tests/test_browser.py`` does, and writes ``<page>-light.png`` and
``<page>-dark.png`` (e.g. ``vectorise-dark.png``, ``api-attention-light.png``,
``404-light.png``) for every page the browser tests check, at a desktop width, each in the
scheme the site picks for a reader whose system asks for it (``prefers-color-scheme``).
"""

import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import urljoin

from browser import DESKTOP, SiteServer, Visit
from playwright.sync_api import sync_playwright
from sitebuild import ROOT, build_site
from test_browser import PAGES, PREFIX


def main(outdir):
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="selfattn-site-") as site, sync_playwright() as playwright:
        print("building the site...", flush=True)
        result = build_site(site)
        if result.returncode != 0:
            sys.exit(f"mkdocs build --strict failed:\n{result.stderr}")
        chromium = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        troubled = []
        with SiteServer(site, PREFIX) as server:
            for scheme in ("light", "dark"):
                page = chromium.new_context(viewport=DESKTOP, color_scheme=scheme).new_page()
                for name, url in PAGES.items():
                    with Visit(page, urljoin(server.base_url, url), 404 if name == "404" else 200) as visit:
                        path = outdir / f"{name.rsplit('.', 1)[0].replace('/', '-')}-{scheme}.png"
                        page.screenshot(path=path, full_page=True)
                        print(path, flush=True)
                    troubled += [f"{name}: {problem}" for problem in visit.problems]
        chromium.close()
    if troubled:
        print("while taking them, the browser saw:\n  " + "\n  ".join(troubled))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ROOT / "screenshots")
