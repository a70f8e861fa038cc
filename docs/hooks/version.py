"""The version of selfattn these pages document, from its one place, ``__version__`` in
``selfattn/__init__.py`` (``pyproject.toml`` reads the package's version there too): named
at the foot of every page, under the title of every API page, and in the first cell of
every page's notebook, which installs that version where selfattn is missing (``pages.py``
reads it from ``config.extra.version``)."""

import re
from pathlib import Path

VERSION = re.compile(r'^__version__ = "([^"]+)"', re.MULTILINE)
TITLE = re.compile(r"^# .*$", re.MULTILINE)


def documented_version(root):
    """``selfattn.__version__``, read from the sources in ``root``: the ones the site
    documents, whichever selfattn is installed."""
    return VERSION.search((Path(root) / "selfattn" / "__init__.py").read_text())[1]


def on_config(config):
    version = config.extra["version"] = documented_version(Path(config.config_file_path).parent)
    config.copyright = f"These pages document selfattn {version}."
    return config


def on_page_markdown(markdown, page, config, files):
    """Under an API page's title, the version it documents."""
    if not page.file.src_uri.startswith("api/"):
        return markdown
    title = TITLE.search(markdown)
    at = title.end() if title else 0
    return f"{markdown[:at]}\n\nThis page documents selfattn {config.extra['version']}.\n{markdown[at:]}"
