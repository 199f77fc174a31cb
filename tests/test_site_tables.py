"""The docs site's wide tables are readable at 1280 px (issue 33, item 7).

The site is built, and the pages with wide tables (PAGES) are loaded in headless
Chromium in a 1280 x 900 window with a small script added to each page. The script writes
into the page what a reader would find cut: a table cell whose text overflows the cell,
or a cell (or a link of the right-hand contents list) that reaches past the edge of a box
that hides or scrolls what overflows it, so that it shows only after scrolling sideways,
with the scroll bar below a table of hundreds of rows. ``--dump-dom`` gives the page back
with that report. Debian's ``chromium`` package (.ci/run installs it) is needed; without
it the test is skipped. The names in the tables break where docs/_ext/table_breaks.py
lets them, which the last test checks without a browser.
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
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import table_breaks  # noqa: E402  (docs/_ext: the <wbr> inside names in tables' cells)

CHROMIUM = pathlib.Path("/usr/bin/chromium")
# The pages whose tables are wide: the configuration reference, the verdict, the theory's
# tables, the author's grid (11 columns of "mean ± std"), the 0.3.0 suite (its page and
# the report the command wrote) and the quick comparison of the peers (11 columns).
PAGES = ("configuration.html", "results/verdict.html", "theory.html",
         "results/author_grid.html", "results/suite_0.3.html", "suite/suite.html",
         "paper_compare_quick/comparison.html")

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason=f"{CHROMIUM} is absent (Debian: apt-get install chromium)")

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


@needs_chromium
@pytest.mark.parametrize("page", PAGES)
def test_no_table_cell_is_cut_at_1280_px(site, page):
  report = clipped(site, page)
  assert report["width"] == 1280 and report["checked"] > 50
  assert report["clipped"] == [], json.dumps(report["clipped"][:10], indent=1)


def test_the_stylesheet_is_registered():
  conf = (ROOT / "docs" / "conf.py").read_text()
  assert 'html_css_files = ["tables.css"]' in conf
  assert (ROOT / "docs" / "_static" / "tables.css").is_file()


def test_tables_break_inside_names_and_code_never_inside_numbers():
  cell = ('<table><tr><th class="head"><p>mnist5k_mlp_noise20</p></th>'
          '<td><p>0.9805 \u2713</p></td><td><p>0.0158679</p></td><td><p>+0.0021</p></td>'
          '<td><p>(-1.741040738854014+5.0832036923152595j)</p></td><td><code><span class='
          '"pre">theory.dual_root()</span></code></td></tr></table>')
  broken = table_breaks.add_breaks(f"<p>keep_this_name</p>{cell}")
  assert broken.startswith("<p>keep_this_name</p>")  # outside a table: as written
  assert 'class="head"' in broken and "<p>mnist5k_<wbr>mlp_<wbr>noise20</p>" in broken
  assert "<p>0.9805\u00a0\u2713</p>" in broken  # the mark stays on its number's line
  assert "<p>0.0158679</p>" in broken and "<p>+0.0021</p>" in broken
  assert "(-1.741040738854014+<wbr>5.0832036923152595j)" in broken
  assert ">theory.<wbr>dual_<wbr>root()<" in broken
  assert broken.replace("<wbr>", "").replace("\u00a0", " ") == f"<p>keep_this_name</p>{cell}"
