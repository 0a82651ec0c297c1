"""Make the built site work with no network: local MathJax, no live-code (Thebe) scripts.

* MathJax 2.7 comes from the PyPI package ``jupyter-server-mathjax`` (pinned in
  requirements.txt). This extension points Sphinx's ``mathjax_path`` at a copy inside
  ``_static/mathjax`` and copies the files there when the HTML build finishes.
* myst-nb's execution table (``{nb-exec-table}``) marks each notebook with an emoji that
  the site's font does not draw; this extension writes "ran" or "failed" instead.
* jupyter-book always loads sphinx-thebe, which puts scripts on every page that point at
  a CDN and declare the same constant twice (a console error). The book does not offer
  live code in the browser (readers run the notebooks), so those scripts are removed.
"""
from __future__ import annotations

import shutil
from pathlib import Path

MATHJAX_DIR = "mathjax"
MATHJAX_URL = f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"

# The package ships MathJax 2.7 with the STIX-Web fonts only, so tell MathJax to use them
# (it would otherwise ask for TeX fonts that are not there). The blank font MathJax measures
# against is declared with url('about:blank'), which Chromium refuses with a console error;
# a local() source declares the same empty font without a request.
MATHJAX2_CONFIG = {
    "HTML-CSS": {
        "availableFonts": ["STIX-Web"],
        "preferredFont": "STIX-Web",
        "webFont": "STIX-Web",
        "imageFont": None,
        "styles": {"@font-face": {"font-family": "MathJax_Blank", "src": "local('MathJax_Blank')"}},
    },
    # MyST-NB marks notebook pages tex2jax_ignore and the maths itself with class "math";
    # MathJax 2 must be told to process those elements.
    "tex2jax": {"processClass": "tex2jax_process|mathjax_process|math|output_area"},
    "showMathMenu": False,
    "messageStyle": "none",
}


def _source() -> Path:
    import jupyter_server_mathjax

    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (static / "MathJax.js").exists():
        raise RuntimeError(
            f"MathJax.js not found in {static}; reinstall the pinned requirements "
            "(make book does it) so the site can render maths offline"
        )
    return static


def _set_path(app, config):
    config.mathjax_path = MATHJAX_URL
    config.mathjax2_config = MATHJAX2_CONFIG


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / MATHJAX_DIR
    if not (target / "MathJax.js").exists():
        shutil.copytree(_source(), target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.py"))


def _is_thebe(asset) -> bool:
    name = getattr(asset, "filename", None) or str(asset)
    body = getattr(asset, "attributes", {}).get("body", "") or ""
    return "thebe" in (name or "").lower() or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _is_thebe(asset)]


def _plain_status(ok) -> str:
    return "ran" if ok is True else "failed"


def setup(app):
    _source()  # fail early, with a clear message, if the package is missing
    from myst_nb.ext import execution_tables

    execution_tables._key2transform["succeeded"] = _plain_status
    app.connect("config-inited", _set_path, priority=900)
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
