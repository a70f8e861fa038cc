"""Full-page screenshots of every page of the site, light and dark.

    .venv/bin/python tests/screenshots.py [outdir]      (default: screenshots/)

Builds the site with ``mkdocs build --strict`` into a temporary folder, serves it on
127.0.0.1 as ``tests/test_browser.py`` does, and writes ``<page>-light.png`` and
``<page>-dark.png`` (e.g. ``vectorise-dark.png``, ``api-attention-light.png``,
``404-light.png``) for every page of the sitemap and the 404 page, at a desktop width.
Each scheme is the one the site picks for a reader whose system asks for it
(``prefers-color-scheme``), as on a first visit.
"""

import sys
import tempfile
import time
from pathlib import Path

import browser
from sitebuild import ROOT, build_site

SCHEMES = {"light": "default", "dark": "slate"}  # prefers-color-scheme -> Material's scheme


def main(outdir):
    reason = browser.unavailable()
    if reason:
        sys.exit(reason)
    from playwright.sync_api import sync_playwright

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="selfattn-site-") as site:
        print("building the site...", flush=True)
        result = build_site(site)
        if result.returncode != 0:
            sys.exit(f"mkdocs build --strict failed:\n{result.stderr}")
        with browser.SiteServer(site, browser.site_prefix(site)) as server, sync_playwright() as playwright:
            chromium = browser.launch(playwright)
            written, troubled = 0, []
            for label, scheme in SCHEMES.items():
                page = chromium.new_context(viewport=browser.DESKTOP, color_scheme=label).new_page()
                for entry in browser.discover_pages(site, server.base_url):
                    visit = browser.visit(page, entry.url, entry.status)
                    shown = page.evaluate("() => document.body.getAttribute('data-md-color-scheme')")
                    if shown != scheme:
                        troubled.append(f"{entry.name}: asked for {label}, the page shows {shown!r}")
                    path = outdir / f"{entry.name}-{label}.png"
                    page.screenshot(path=path, full_page=True)
                    written += 1
                    print(path, flush=True)
                    visit.stop()
                    troubled += [f"{entry.name}: {problem}" for problem in visit.problems()]
            chromium.close()
    print(f"{written} screenshots in {outdir}/")
    if troubled:
        print("while taking them, the browser saw:\n  " + "\n  ".join(troubled))


if __name__ == "__main__":
    start = time.monotonic()
    main(sys.argv[1] if len(sys.argv) > 1 else ROOT / "screenshots")
    print(f"done in {time.monotonic() - start:.0f} s")
