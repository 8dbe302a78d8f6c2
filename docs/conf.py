"""Sphinx configuration of the mrecg book (``sphinx-build -W docs docs/_build/html``).

Sphinx with myst-nb and sphinx-book-theme: the stack Jupyter Book 1 wraps, used directly, so the book
builds offline with one command, and the API reference comes from the package's docstrings (autodoc).
The chapters are the committed executed notebooks of ``executed/mini/`` (``docs/notebooks`` links
there), rendered as they are: ``nb_execution_mode = "off"``, nothing is re-run.
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the checkout's package, not an installed copy
sys.path.insert(0, str(DOCS / "_ext"))

project = "mrecg"
author = "the mrecg contributors"
copyright = "2023-2026, the mrecg contributors"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "notebook_pages",
]

# chapters: the committed executed notebooks, never re-executed
nb_execution_mode = "off"
nb_merge_streams = True
# ipywidgets, should a chapter gain one: its static fallback output is shown (no widget JavaScript, which would
# come from a CDN), and the chapter's note says how to run it live (docs/_ext/notebook_pages.py)
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
myst_heading_anchors = 3  # [text](page.md#a-heading) links, as the README's sections link each other

# API reference: every module of the package, found by walking it (docs/api.md), from docstrings
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_inherit_docstrings = False  # torch.autograd.Function.forward's docstring refers to torch's own labels

exclude_patterns = ["_build", "**/.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# offline: no intersphinx, no remote assets; the theme's own files are bundled with it
html_theme = "sphinx_book_theme"
html_title = "mrecg: MRECG, reproduced"
html_theme_options = {
    "use_download_button": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_last_updated_fmt = None
html_static_path = ["_static"]
html_css_files = ["book.css"]  # wide result tables scroll instead of wrapping
