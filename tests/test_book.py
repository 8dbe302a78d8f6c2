"""The book as a reader sees it.

The book is built from this checkout with the README's command (``sphinx-build -W docs ...``, warnings are
errors) into a temporary folder, with the network unplugged where this machine allows it (``unshare -n``,
as CI runs: nothing may be fetched at build time). Then:

* every built page is parsed: no internal link points to a missing file or to an anchor its page lacks, and
  no page loads a script, stylesheet or image from another host;
* headless Chromium (Debian's ``chromium``, driven by selenium through ``chromedriver``) opens the landing
  page, every chapter and every prose page, saves a screenshot of each, and asserts that the page loaded,
  that every image on it loaded, and, on the chapters, that the executed outputs (figures, tables, printed
  verdicts) of the committed notebook are shown with the note on running it live;
* each link of the findings page's "Where each finding is computed" table leads to a notebook cell that
  calls the function the row names, and every function named there links into the API reference.

``pip install -e ".[docs]"`` and ``apt-get install chromium chromium-driver`` provide what it needs
(``.ci/run`` installs both); without them the test is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = sorted((ROOT / "executed" / "mini").glob("*.ipynb"))
PROSE = sorted(p.stem for p in DOCS.glob("*.md"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1600"]


def _missing(what: str):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; .ci/run installs it")
    pytest.skip(f"{what} is missing (pip install -e '.[docs]'; apt-get install chromium chromium-driver)")


def _offline_prefix() -> list[str]:
    """``unshare -n`` (a network namespace with no interface up) where this machine allows it."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-n"]
    return []


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    for module in ("sphinx", "myst_nb", "sphinx_book_theme"):
        try:
            __import__(module)
        except ImportError:
            _missing(f"the Python package {module}")
    out = tmp_path_factory.mktemp("book")
    offline = _offline_prefix()
    start = time.monotonic()
    # the README's command, with the output and the doctree cache in the temporary folder
    build = subprocess.run([*offline, sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-d",
                            str(out / "doctrees"), str(DOCS), str(out / "html")],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-4000:]
    print(f"book built in {time.monotonic() - start:.0f} s{' with the network unplugged' if offline else ''}")
    return out / "html"


class _Page(HTMLParser):
    """The ids, links and loaded resources of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.resources: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag in ("img", "script", "iframe", "source") and a.get("src"):
            self.resources.append(a["src"])
        elif tag == "link" and a.get("href") and not {"canonical", "alternate"} & set((a.get("rel") or "").split()):
            self.resources.append(a["href"])


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(errors="replace"))
    return page


def test_every_internal_link_and_anchor_resolves_and_nothing_is_fetched_from_elsewhere(book):
    # the built pages (the theme's _static/ holds template fragments, not pages)
    pages = {p: _parse(p) for p in book.rglob("*.html") if "_static" not in p.relative_to(book).parts}
    assert book / "index.html" in pages and len(pages) > len(NOTEBOOKS) + len(PROSE)
    broken, remote, checked = [], [], 0
    for path, page in pages.items():
        for ref in page.resources:
            if urlsplit(ref).scheme or ref.startswith("//"):
                remote.append(f"{path.relative_to(book)}: {ref}")
            elif urlsplit(ref).path and not (path.parent / unquote(urlsplit(ref).path)).resolve().is_file():
                broken.append(f"{path.relative_to(book)}: missing resource {ref}")
        for href in page.links:
            parts = urlsplit(href)
            if parts.scheme or href.startswith("//"):
                continue  # a link out (arXiv, the released code): followed by the reader, not loaded
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            checked += 1
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{path.relative_to(book)}: {href} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(book)}: {href} (no such anchor)")
    assert checked > 1000, checked  # the crawl really walked the book
    assert not broken, "\n".join(broken[:40])
    assert not remote, "pages load from another host:\n" + "\n".join(remote[:40])


@pytest.fixture(scope="module")
def browser(book, tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("the Python package selenium")
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        _missing("Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(browser, page: Path, shots: Path) -> dict:
    """Load a page as a reader would, wait for its images, save a screenshot, and report what it shows."""
    browser.get(page.as_uri())
    browser.execute_script("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
    deadline = time.monotonic() + 30
    while not browser.execute_script("return document.readyState === 'complete' && "
                                     "Array.from(document.images).every(i => i.complete)"):
        assert time.monotonic() < deadline, f"{page.name}: images still loading after 30 s"
        time.sleep(0.1)
    shots.mkdir(exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(max(height, 800), 16000))  # the whole page in one picture
    browser.save_screenshot(str(shots / f"{page.parent.name}_{page.stem}.png"))
    return browser.execute_script("""
        const main = document.querySelector('article.bd-article, main');
        return {
          title: document.title,
          heading: main && main.querySelector('h1') ? main.querySelector('h1').textContent : '',
          text: main ? main.innerText : '',
          images: Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth]),
          outputImages: document.querySelectorAll('.cell_output img').length,
          outputTables: document.querySelectorAll('.cell_output table').length,
          live: Array.from(document.querySelectorAll('.run-live')).map(n => n.innerText),
        };""")


def _check_loaded(page: Path, shown: dict) -> None:
    assert shown["heading"].strip() and shown["text"].strip(), f"{page.name}: nothing shown"
    assert shown["images"] is not None
    blank = [src for src, width in shown["images"] if not width]
    assert not blank, f"{page.name}: images that did not load: {blank}"


def _outputs(notebook: Path) -> tuple[int, int, list[str]]:
    """What the committed notebook shows: its PNG outputs, its HTML tables, and its printed lines."""
    images = tables = 0
    printed = []
    for cell in json.loads(notebook.read_text())["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            images += "image/png" in data
            tables += "<table" in "".join(data.get("text/html", ""))
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                printed += [line.strip() for line in "".join(out["text"]).splitlines() if line.strip()]
    return images, tables, printed


def test_the_landing_page_and_every_chapter_and_page_load_with_their_figures(book, browser, tmp_path):
    shots = tmp_path / "screenshots"
    start = time.monotonic()
    landing = _open(browser, book / "index.html", shots)
    _check_loaded(book / "index.html", landing)
    assert len(landing["images"]) >= 6, "the gallery's figures are missing from the landing page"
    for stem in PROSE:
        if stem != "index":
            _check_loaded(book / f"{stem}.html", _open(browser, book / f"{stem}.html", shots))
    assert NOTEBOOKS, "no executed notebooks"
    for notebook in NOTEBOOKS:
        page = book / "notebooks" / f"{notebook.stem}.html"
        shown = _open(browser, page, shots)
        _check_loaded(page, shown)
        images, tables, printed = _outputs(notebook)
        assert images + tables + len(printed) > 0, notebook.name
        assert shown["outputImages"] >= images, f"{page.name}: {shown['outputImages']} of {images} figures shown"
        assert shown["outputTables"] >= tables, f"{page.name}: {shown['outputTables']} of {tables} tables shown"
        text = re.sub(r"\s+", " ", shown["text"])
        absent = [line for line in printed if re.sub(r"\s+", " ", line) not in text]
        assert not absent, f"{page.name}: printed outputs not shown: {absent[:3]}"
        assert len(shown["live"]) == 1 and f"jupyter lab notebooks/{notebook.stem}.ipynb" in shown["live"][0], \
            f"{page.name}: no note on running it live"
    assert len(list(shots.glob("*.png"))) == 1 + len(PROSE) - 1 + len(NOTEBOOKS)
    print(f"{len(list(shots.glob('*.png')))} pages read in Chromium in {time.monotonic() - start:.0f} s")


def test_each_finding_links_the_cell_and_the_function_that_compute_it(book, browser, tmp_path):
    _open(browser, book / "findings.html", tmp_path)
    rows = browser.execute_script("""
        const table = document.querySelector('#where-each-finding-is-computed table');
        return Array.from(table.querySelectorAll('tbody tr')).map(tr => {
          const [what, cells, fns] = tr.querySelectorAll('td');
          return {what: what.innerText,
                  cells: Array.from(cells.querySelectorAll('a')).map(a => a.href),
                  code: Array.from(fns.querySelectorAll('code')).map(c => c.innerText),
                  linked: Array.from(fns.querySelectorAll('a code')).map(c => c.innerText),
                  api: Array.from(fns.querySelectorAll('a')).map(a => a.href)};
        });""")
    assert len(rows) >= 7, rows
    # the page's text, with the README block and FINDINGS.md that it includes
    lines = "".join((path).read_text() for path in (DOCS / "findings.md", DOCS.parent / "README.md",
                                                    DOCS.parent / "FINDINGS.md"))
    for row in rows:
        # the prefix names a section or lines of the generated findings
        name = re.escape(row["what"].split(" (")[0])
        assert re.search(rf"^(#+ |- |\| )(\**)(\w+ )?{name}", lines, flags=re.M | re.I), row["what"]
        assert row["code"] and row["code"] == row["linked"], f"{row['what']}: a function not in the API reference"
        assert all("/_autosummary/" in href for href in row["api"]), row["api"]
        names = [c.rstrip("()").rsplit(".", 1)[-1] for c in row["code"]]
        assert row["cells"], row["what"]
        for href in row["cells"]:
            anchor = urlsplit(href).fragment
            assert re.fullmatch(r"cell-\d+", anchor), href
            browser.get(href)
            source = browser.execute_script(
                "const c = document.getElementById(arguments[0]);"
                "return c ? c.querySelector('.cell_input').innerText : null;", anchor)
            assert source is not None, f"{href}: no such cell"
            assert any(name in source for name in names), f"{href} calls none of {names}:\n{source}"


def test_each_finding_link_names_a_cell_that_calls_its_function_in_the_committed_notebook():
    """The quick twin of the browser test above, without the book: a notebook edit that shifts its cells
    breaks the findings table's hard-numbered links, and this says so in a second."""
    rows = re.findall(r"^\| ([^|]+) \| (.+?) \| (.+?) \|$", (DOCS / "findings.md").read_text(), flags=re.M)
    links = 0
    for what, cells, functions in rows:
        names = re.findall(r"\{py:func\}`[\w.]+\.(\w+)`", functions)
        for stem, index in re.findall(r"\(\.\./executed/mini/(\w+)\.ipynb#cell-(\d+)\)", cells):
            notebook = json.loads((ROOT / "executed" / "mini" / f"{stem}.ipynb").read_text())
            cell = notebook["cells"][int(index) - 1]  # the book's anchor cell-N is the notebook's N-th cell
            source = "".join(cell["source"])
            assert cell["cell_type"] == "code" and any(name in source for name in names), \
                f"{what}: {stem} cell {index} calls none of {names}:\n{source}"
            links += 1
    assert links >= 7, rows


def test_the_live_note_says_when_widgets_are_static():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import notebook_pages
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    plain, widgets = (notebook_pages.live_note("00_x", w).astext() for w in (False, True))
    assert "jupyter lab notebooks/00_x.ipynb" in plain and "static" not in plain
    assert "static output" in widgets and "jupyter lab notebooks/00_x.ipynb" in widgets
    out = {"output_type": "display_data", "data": {notebook_pages.WIDGET: {}, "text/plain": "IntSlider"}}
    assert notebook_pages.has_widgets({"cells": [{"cell_type": "code", "outputs": [out]}]})
    for notebook in NOTEBOOKS:  # the committed chapters have none today; a chapter that gains one gets the note
        assert notebook_pages.has_widgets(json.loads(notebook.read_text())) == (
            notebook_pages.WIDGET in notebook.read_text()), notebook.name


def test_the_readme_is_short_and_reaches_every_page_of_the_book_in_one_click():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    linked = set(re.findall(r"\]\(docs/([\w-]+)\.md(?:#[\w-]+)?\)", readme))
    pages = {p.stem for p in DOCS.glob("*.md")} - {"index", "api"}  # the landing page and the generated reference
    assert pages <= linked, f"pages of docs/ the README does not link: {sorted(pages - linked)}"
    assert "sphinx-build -W docs docs/_build/html" in readme  # the command that builds the book


def test_a_chapter_with_widgets_shows_their_static_output_and_the_live_note(tmp_path):
    """The book's configuration on a one-chapter book whose notebook has an ipywidgets output: the page shows
    the widget's static fallback, loads no widget JavaScript, and carries the note on running it live."""
    for module in ("sphinx", "myst_nb", "sphinx_book_theme"):
        try:
            __import__(module)
        except ImportError:
            _missing(f"the Python package {module}")
    src = tmp_path / "src"
    (src / "notebooks").mkdir(parents=True)
    (src / "conf.py").write_text(f"__file__ = {str(DOCS / 'conf.py')!r}\n"
                                 f"exec(compile(open(__file__).read(), __file__, 'exec'))\n")
    (src / "index.md").write_text("# Book\n\n```{toctree}\nnotebooks/09_slider\n```\n")
    widget = {"output_type": "display_data", "metadata": {},
              "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2,
                                                                      "version_minor": 0},
                       "text/plain": "IntSlider(value=3, description='bits')"}}
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3",
                                                                               "display_name": "Python 3"}},
                "cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# A slider"},
                          {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": 1,
                           "source": "IntSlider(3)", "outputs": [widget]}]}
    (src / "notebooks" / "09_slider.ipynb").write_text(json.dumps(notebook))
    build = subprocess.run([*_offline_prefix(), sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src),
                            str(tmp_path / "html")], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    page = (tmp_path / "html" / "notebooks" / "09_slider.html").read_text()
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", page)))
    assert "IntSlider(value=3, description='bits')" in text  # the widget's static fallback
    assert "static output" in text and "jupyter lab notebooks/09_slider.ipynb" in text
    assert not re.search(r"<script[^>]+src=\"https?://", page), "widget JavaScript fetched from elsewhere"
