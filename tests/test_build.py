"""The site builds with ``mkdocs build --strict``: no warning, no broken link, every notebook executed."""

import json


def test_strict_build_writes_every_page(site):
    nav_pages = ["index.html", "vectorise/index.html", "journey/index.html", "api/attention/index.html", "404.html"]
    for page in nav_pages:
        assert (site / page).stat().st_size > 0, page
    index = json.loads((site / "search" / "search_index.json").read_text())
    assert any("softmax" in doc["text"].lower() for doc in index["docs"])
