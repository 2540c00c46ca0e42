"""Check that the built book loads nothing from the network.

Scans every HTML page under the output folder for scripts, stylesheets, images, frames and
media whose source is an external ``http(s)://`` or protocol-relative ``//`` URL, and every CSS
file for external ``url(...)``/``@import``; checks that pages with math load the local MathJax.
Links (``<a href>``) to external pages are fine: they are only followed when clicked.

Usage: ``python scripts/check_html.py _build/html``; exits 1 with the offending pages.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"(?:url\(\s*['\"]?|@import\s+['\"])\s*((?:https?:)?//[^'\")\s]+)", re.I)
#: (tag, attribute) pairs that make the browser fetch a resource while loading the page.
FETCHING = {
    ("script", "src"),
    ("img", "src"),
    ("img", "srcset"),
    ("iframe", "src"),
    ("source", "src"),
    ("source", "srcset"),
    ("video", "src"),
    ("audio", "src"),
    ("embed", "src"),
    ("object", "data"),
    ("input", "src"),
}
LOADING_RELS = {"stylesheet", "preload", "modulepreload", "icon", "shortcut", "manifest"}


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.external: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        for attr in ("src", "srcset", "data"):
            if (tag, attr) in FETCHING and attr in a and EXTERNAL.match(a[attr]):
                self.external.append(f"<{tag} {attr}={a[attr]}>")
        if tag == "link":
            rels = set(a.get("rel", "").lower().split())
            if rels & LOADING_RELS and EXTERNAL.match(a.get("href", "")):
                self.external.append(f"<link rel={a.get('rel')} href={a['href']}>")
        style = a.get("style", "")
        for m in CSS_URL.finditer(style):
            self.external.append(f"<{tag} style=url({m.group(1)})>")


def scan_page(text: str) -> tuple[list[str], list[str]]:
    """(external resources, script sources) of one HTML page."""
    s = _Scanner()
    s.feed(text)
    for m in re.finditer(r"<style[^>]*>(.*?)</style>", text, re.S | re.I):
        s.external += [f"<style> url({u})" for u in CSS_URL.findall(m.group(1))]
    return s.external, s.scripts


def pages_of(html_dir: Path) -> list[Path]:
    """The book's pages (theme templates under ``_static`` are not pages)."""
    return sorted(
        p for p in html_dir.rglob("*.html") if "_static" not in p.relative_to(html_dir).parts
    )


def check(html_dir: Path) -> list[str]:
    problems: list[str] = []
    pages = pages_of(html_dir)
    if not pages:
        return [f"no HTML pages under {html_dir}"]
    for page in pages:
        rel = page.relative_to(html_dir)
        text = page.read_text(encoding="utf-8", errors="replace")
        external, scripts = scan_page(text)
        problems += [f"{rel}: external resource {e}" for e in external]
        local = [s.split("?", 1)[0].split("#", 1)[0] for s in scripts if not EXTERNAL.match(s)]
        for src in local:
            if src and not (page.parent / src).resolve().is_file():
                problems.append(f"{rel}: script {src} does not exist in the output")
        has_math = 'class="math' in text or "\\(" in text
        if has_math and not any(s.endswith("mathjax/tex-mml-chtml.js") for s in local):
            problems.append(f"{rel}: has math but does not load the local MathJax")
    for css in sorted(html_dir.rglob("*.css")):
        text = css.read_text(encoding="utf-8", errors="replace")
        problems += [f"{css.relative_to(html_dir)}: external {u}" for u in CSS_URL.findall(text)]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    html_dir = Path(args[0] if args else "_build/html")
    problems = check(html_dir)
    for p in problems:
        print(f"ERROR: {p}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} external reference(s) in {html_dir}", file=sys.stderr)
        return 1
    n = len(pages_of(html_dir))
    print(f"offline check: {n} pages, no external scripts, styles or images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
