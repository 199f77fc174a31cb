"""The docs site's wide tables are readable at 1280 px (issue 33, item 7).

The site is built, and the configuration reference and the verdict page are loaded in
headless Chromium in a 1280 x 900 window with a small script added to each page. The
script writes into the page what a reader would find cut: a table cell whose text
overflows the cell, or a cell (or a link of the right-hand contents list) that reaches
past the edge of a box that hides or scrolls what overflows it, so that it shows only
after scrolling sideways, with the scroll bar below a table of hundreds of rows.
``--dump-dom`` gives the page back with that report. Debian's ``chromium`` package
(.ci/run installs it) is needed; without it the test is skipped.
"""

from __future__ import annotations

import html
import json
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = pathlib.Path("/usr/bin/chromium")
PAGES = ("configuration.html", "results/verdict.html")

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(),
                                reason=f"{CHROMIUM} is absent (Debian: apt-get install chromium)")

MEASURE = """
window.addEventListener("load", function () {
  var found = [], seen = 0;
  function check(element, kind) {
    seen += 1;
    var box = element.getBoundingClientRect();
    var text = element.textContent.trim().slice(0, 60);
    if (kind === "cell" && element.scrollWidth > element.clientWidth + 1) {
      found.push({kind: kind, text: text, why: "overflows its cell"});
      return;
    }
    for (var up = element.parentElement; up && up !== document.body; up = up.parentElement) {
      var overflow = getComputedStyle(up).overflowX;
      if (overflow === "visible") continue;
      var edge = up.getBoundingClientRect();
      if (box.right > edge.right + 1 || box.left < edge.left - 1) {
        found.push({kind: kind, text: text, why: "past the edge of a box with overflow "
                    + overflow + " (" + up.className + ") by "
                    + Math.round(box.right - edge.right) + " px"});
      }
      return;
    }
  }
  document.querySelectorAll("article table td, article table th")
      .forEach(function (cell) { check(cell, "cell"); });
  document.querySelectorAll(".bd-sidebar-secondary nav a")
      .forEach(function (link) { check(link, "contents"); });
  var report = document.createElement("pre");
  report.id = "clip-report";
  report.textContent = JSON.stringify({checked: seen, clipped: found,
                                       width: window.innerWidth});
  document.body.appendChild(report);
});
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
  """The docs site, built as CI builds it (html, warnings as errors)."""
  for module in ("sphinx", "myst_parser", "sphinx_book_theme"):
    pytest.importorskip(module, reason="the docs extra is not installed (pip install -e "
                        "'.[docs]')")
  out = tmp_path_factory.mktemp("site")
  built = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                          "html", "-d", str(out / "doctrees"), str(ROOT / "docs"),
                          str(out / "html")], capture_output=True, text=True, timeout=600)
  assert built.returncode == 0, built.stderr
  return out


def clipped(site: pathlib.Path, page: str) -> dict:
  """The report of the measuring script on ``page`` at 1280 px."""
  original = site / "html" / page
  probe = original.with_name(f"_probe_{original.name}")  # beside it: the same static files
  probe.write_text(original.read_text().replace("</body>", f"<script>{MEASURE}</script></body>"))
  dom = subprocess.run(
      [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
       "--disable-background-networking", "--disable-component-update", "--disable-sync",
       "--no-first-run", f"--user-data-dir={site / 'chromium'}", "--window-size=1280,900",
       "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
  found = re.search(r'<pre id="clip-report"[^>]*>(.*?)</pre>', dom, re.S)
  assert found, f"{page}: the measuring script reported nothing"
  return json.loads(html.unescape(found.group(1)))


@pytest.mark.parametrize("page", PAGES)
def test_no_table_cell_is_cut_at_1280_px(site, page):
  report = clipped(site, page)
  assert report["width"] == 1280 and report["checked"] > 50
  assert report["clipped"] == [], json.dumps(report["clipped"][:10], indent=1)


def test_the_stylesheet_is_registered():
  conf = (ROOT / "docs" / "conf.py").read_text()
  assert 'html_css_files = ["tables.css"]' in conf
  assert (ROOT / "docs" / "_static" / "tables.css").is_file()
