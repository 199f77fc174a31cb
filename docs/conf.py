"""Sphinx configuration of the dualprocess docs.

Build (CI runs both, warnings as errors):

  pip install -e ".[docs]"
  python -m sphinx -W --keep-going -b html docs build/docs/html
  python -m sphinx -W --keep-going -b doctest docs build/docs/doctest
"""

import doctest
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # dualprocess and experiments from this checkout
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import dualprocess  # noqa: E402

project = "dualprocess"
author = "dualprocess developers"
copyright = "dualprocess developers"
release = dualprocess.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "config_reference",  # docs/_ext: the configuration reference, generated at build time
    "page_titles",  # docs/_ext: titles for the commands' reports that have none
    "table_breaks",  # docs/_ext: line breaks inside the long names in tables' cells
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "_ext",
    # The results folders keep the commands' other outputs beside their reports (the
    # Markdown files, which are pages); none of those is a page.
    "**/config.yaml",
    "**/*.json",
]

# The results pages as the commands wrote them (index.md takes every page in a folder of
# docs/ into its Results); these two start without a title.
page_titles = {
    "paper_grid_quick/grid": "The author's MNIST grid, quick",
    "paper_compare_quick/comparison": "The peers under the author's protocol, quick",
}

# MyST: Markdown pages, headings linkable as page.md#slug down to level 3.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc + napoleon: the library's Google-style docstrings (Args, Returns, Raises,
# Examples), members in source order. Signatures without annotations, as the docstrings
# say the types in words: spelled out, optax.ScalarOrSchedule is a line of unions.
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# The docstrings' examples are doctests: `sphinx -b doctest` runs every one the pages
# show, with the same whitespace rule as pytest's --doctest-modules (pyproject.toml).
doctest_default_flags = doctest.NORMALIZE_WHITESPACE
doctest_test_doctest_blocks = "default"

html_theme = "sphinx_book_theme"
html_title = f"dualprocess {release}"
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
    # The results pages' tables are wide and their sections few: those pages give the
    # right-hand contents list's width to the tables (RESULTS_PAGES, below).
    "secondary_sidebar_items": {"**": ["page-toc"]},
}
# Wide tables wrap in the page's width instead of hiding columns past its edge
# (tests/test_site_tables.py checks it in headless Chromium at 1280 px).
html_static_path = ["_static"]
html_css_files = ["tables.css"]
# The results: docs/results/ and the reports the commands wrote into output folders
# (those that hold their config.yaml), named one by one, as the theme wants no two
# wildcard patterns for a page.
RESULTS_PAGES = sorted(
    page.relative_to(ROOT / "docs").with_suffix("").as_posix()
    for page in (ROOT / "docs").rglob("*.md")
    if "_build" not in page.parts and (page.parent.name == "results"
                                       or (page.parent / "config.yaml").is_file()))
html_theme_options["secondary_sidebar_items"].update(dict.fromkeys(RESULTS_PAGES, []))
