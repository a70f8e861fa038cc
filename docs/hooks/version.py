"""``__version__`` of ``selfattn/__init__.py`` at every page's foot, under every API page's
title and in each notebook's install cell (``pages.py`` reads ``config.extra.version``)."""

import re
from pathlib import Path


def on_config(config):
    init = (Path(config.config_file_path).parent / "selfattn" / "__init__.py").read_text()
    version = config.extra["version"] = re.search(r'^__version__ = "([^"]+)"', init, re.MULTILINE)[1]
    config.copyright = f"These pages document selfattn {version}."


def on_page_markdown(markdown, page, config, files):
    if not page.file.src_uri.startswith("api/"):
        return markdown
    note = f"\\g<0>\n\nThis page documents selfattn {config.extra['version']}.\n"
    return re.sub(r"^# .*$", note, markdown, count=1, flags=re.MULTILINE)
