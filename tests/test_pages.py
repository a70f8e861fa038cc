"""The pages as a whole: the home page maps the site, every page with a formula links the
notation, and no page runs past 400 lines."""

import re

import yaml
from sitebuild import ROOT

DOCS = ROOT / "docs"


def nav_pages(nav):
    """The file of every entry of mkdocs.yml's ``nav``, in order."""
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            yield from nav_pages(value)
        else:
            yield value


def prose(text):
    """A Markdown page without its code: fenced blocks and inline code removed."""
    return re.sub(r"`[^`\n]*`", "", re.sub(r"^( *)```.*?^\1```", "", text, flags=re.M | re.S))


def test_the_home_page_links_every_page_of_the_nav():
    pages = list(nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]))
    assert "notation.md" in pages and "journey.ipynb" in pages
    index = (DOCS / "index.md").read_text()
    missing = [page for page in pages if page != "index.md" and not re.search(rf"\]\({re.escape(page)}[#)]", index)]
    assert not missing, f"docs/index.md's site map does not link {missing}"


def test_every_page_with_a_formula_links_the_notation():
    formulas = {page.name: page.read_text() for page in DOCS.glob("*.md") if "$" in prose(page.read_text())}
    assert "index.md" in formulas and "masks.md" in formulas
    missing = [name for name, text in formulas.items() if name != "notation.md" and "](notation.md)" not in text]
    assert not missing, f"pages with formulas that do not link notation.md: {missing}"


def test_the_prose_of_a_page_leaves_its_code_out():
    text = "A $x$ here.\n\n```python\nprint('$')\n```\n\n    ```python\n    y = '$'\n    ```\nand `$`.\n"
    assert prose(text).count("$") == 2


def test_no_page_is_longer_than_400_lines():
    """A page is as long as its one idea: what runs past 400 lines of Markdown belongs on another page."""
    lengths = {page.name: len(page.read_text().splitlines()) for page in DOCS.glob("*.md")}
    assert len(lengths) > 20
    too_long = {name: n for name, n in lengths.items() if n > 400}
    assert not too_long, f"pages over 400 lines: {too_long}"


def test_every_link_out_of_the_site_is_on_the_references_page_once():
    outside = re.compile(r"\]\((https?://[^)\s]+)\)")
    elsewhere = {page.relative_to(DOCS).as_posix(): outside.findall(page.read_text()) for page in DOCS.rglob("*.md")}
    links = elsewhere.pop("references.md")
    assert not {name: found for name, found in elsewhere.items() if found}, "link to references.md instead"
    assert len(links) > 30 and len(links) == len(set(links)), "each address once"


def test_train_gpt_quotes_the_longer_run_as_recorded():
    """The longer run is too slow for a page: its page quotes benchmarks/train_gpt.py's record."""
    import json

    record = json.loads((DOCS / "benchmarks" / "train-gpt.json").read_text())
    steps, held_out = record["held_out"][-1]
    page = " ".join((DOCS / "train-gpt.md").read_text().split())
    quoted = (
        f"for {steps} steps and records what it measured in `docs/benchmarks/train-gpt.json`: a held-out loss of "
        f"{held_out:.2f} (the bigram model's is {record['bigram']:.2f}), after {record['seconds']} s"
    )
    assert quoted in page
    assert record["sample"].split(". ")[0] + "." in page
