"""The theme's templates, compiled once: Jinja keeps their bytecode in the build cache.

MkDocs makes a new Jinja environment on every build, so Material's templates would be
compiled from source on every rebuild of ``make serve``. Jinja's own bytecode cache keeps
each compiled template under ``.cache/build/templates/`` and checks it against the
template's source before use. Off with the rest of the cache (``build_cache.py``).
"""

import jinja2
from build_cache import folder


def on_env(env, config, files):
    base = folder(config)
    if base is not None:
        (base / "templates").mkdir(parents=True, exist_ok=True)
        env.bytecode_cache = jinja2.FileSystemBytecodeCache(str(base / "templates"))
    return env
