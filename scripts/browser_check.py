"""Open every page of the built book in headless Chromium and check what a reader would see.

The book is served on 127.0.0.1 by a small HTTP server in a thread. Chromium is driven through
the DevTools protocol (a websocket on a local port). For every page:

* no console error, uncaught exception or failed resource load;
* no request leaves localhost (the book is self-contained);
* every image loaded (non-zero natural size);
* MathJax typeset every ``.math`` element, rendered no TeX error, and no raw TeX delimiters
  (``\\(``, ``\\[``, ``$$``, ``\\begin{``) remain in the visible text;
* on the page with the claims dashboard, the filter shows exactly the rows of the chosen paper,
  kind or verdict, the reset restores the page, and clicking a header sorts its table.

Screenshots of chosen pages go to ``artifacts/``. Chromium flags follow the book toolchain
notes (no background networking, no component updates, fresh profile).

Usage: ``python scripts/browser_check.py _build/html [--screenshot book/intro.html ...]``
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-allow-origins=*",
)

#: Evaluated in the page after load and after MathJax finished its first typeset pass.
PAGE_PROBE = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => { i.loading = 'eager'; return i.decode().catch(() => null); }));
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                     .map(i => i.getAttribute('src'));
  const math = [...document.querySelectorAll('.math')];
  const untypeset = math.filter(e => !e.querySelector('mjx-container'))
                        .map(e => e.textContent.trim().slice(0, 80));
  const texErrors = [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]
                        .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80));
  const raw = [];
  const skip = new Set(['SCRIPT', 'STYLE', 'PRE', 'CODE', 'TEXTAREA', 'MJX-CONTAINER', 'NOSCRIPT']);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode(n) {
      for (let p = n.parentElement; p; p = p.parentElement) {
        if (skip.has(p.tagName)) return NodeFilter.FILTER_REJECT;
      }
      return NodeFilter.FILTER_ACCEPT;
    }
  });
  const tex = /\\\(|\\\[|\$\$|\\begin\{/;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (tex.test(n.textContent)) raw.push(n.textContent.trim().slice(0, 80));
  }
  const dash = document.querySelector('#claims-dashboard');
  const tables = dash ? [...dash.querySelectorAll('table.claims-table')] : [];
  // laid out and not in a closed <details> (whose content Chromium keeps laid out)
  const shown = e => (e.checkVisibility ? e.checkVisibility() : e.getClientRects().length > 0);
  const rows = tables.flatMap(t => [...t.querySelectorAll('tbody tr')]);
  return {
    title: document.title,
    mathjax: !!window.MathJax,
    math: math.length,
    images: imgs.length,
    broken, untypeset, texErrors, raw,
    dashboard: dash ? {
      table: tables.length > 0,
      tables: tables.length,
      rows: rows.length,
      shownRows: rows.filter(shown).length,
      collapsedTables: tables.filter(t => t.closest('details:not([open])')).length,
      badges: dash.querySelectorAll('.verdict').length,
      // beside each verdict: its stability over seeds, and the full profile's verdict
      stability: dash.querySelectorAll('table.claims-table .claim-stability').length,
      fullCells: rows.filter(r => {
        const t = r.closest('table');
        const col = [...t.tHead.rows[0].cells].findIndex(th => th.textContent.trim() === 'Full');
        return col >= 0 && r.cells[col] && r.cells[col].querySelector('[data-sort]');
      }).length,
      text: dash.textContent.slice(0, 200),
    } : null,
  };
})()
"""

#: Evaluated on the page with the claims dashboard: drives its filter (``_static/claims.js``)
#: through every value of every select, then the reset button, then sorts a table by its
#: verdict column and by its full-profile verdict column.
#: A row counts as shown when the browser lays it out (not hidden, not in a closed dropdown).
#: What a row should match is read from the generator's ``span.claim-row``, not from the script.
DASHBOARD_EXERCISE = r"""
(() => {
  const form = document.querySelector('form.claims-filter');
  if (!form) return null;
  // laid out and not in a closed <details> (whose content Chromium keeps laid out)
  const shown = e => (e.checkVisibility ? e.checkVisibility() : e.getClientRects().length > 0);
  const rows = [...document.querySelectorAll('#claims-dashboard table.claims-table tbody tr')];
  const truth = (r, field) => {
    const m = r.querySelector('.claim-row');
    return m ? m.getAttribute('data-' + field) : null;
  };
  const collapsed = () => [...document.querySelectorAll('#claims-dashboard details')]
    .filter(d => d.querySelector('table.claims-table') && !d.open).length;
  const count = form.querySelector('.claims-filter-count');
  const out = {
    formShown: !form.hidden && shown(form),
    rows: rows.length,
    unmarked: rows.filter(r => !r.querySelector('.claim-row')).length,
    initiallyShown: rows.filter(shown).length,
    initiallyCollapsed: collapsed(),
    steps: [],
    resets: [],
  };
  const reset = () => {
    form.querySelector('.claims-filter-reset').click();
    out.resets.push({
      shown: rows.filter(shown).length,
      collapsed: collapsed(),
      selects: [...form.querySelectorAll('select')].map(s => s.value).join(''),
    });
  };
  for (const sel of form.querySelectorAll('select[data-filter]')) {
    const field = sel.getAttribute('data-filter');
    for (const opt of sel.options) {
      if (!opt.value) continue;
      sel.value = opt.value;
      sel.dispatchEvent(new Event('change', { bubbles: true }));
      const vis = rows.filter(shown);
      out.steps.push({
        field, value: opt.value,
        shown: vis.length,
        expected: rows.filter(r => truth(r, field) === opt.value).length,
        wrong: vis.filter(r => truth(r, field) !== opt.value)
                  .map(r => r.cells[0].textContent.trim()),
        count: count ? count.textContent : null,
      });
    }
    reset();
  }
  // two filters at once: the first kind and the first verdict that occur together
  const kinds = form.querySelector('select[data-filter="kind"]');
  const verdicts = form.querySelector('select[data-filter="verdict"]');
  const both = rows.find(r => truth(r, 'kind') && truth(r, 'verdict'));
  if (kinds && verdicts && both) {
    kinds.value = truth(both, 'kind');
    verdicts.value = truth(both, 'verdict');
    kinds.dispatchEvent(new Event('change', { bubbles: true }));
    const vis = rows.filter(shown);
    out.steps.push({
      field: 'kind+verdict', value: kinds.value + '+' + verdicts.value,
      shown: vis.length,
      expected: rows.filter(r => truth(r, 'kind') === kinds.value
                              && truth(r, 'verdict') === verdicts.value).length,
      wrong: vis.filter(r => truth(r, 'kind') !== kinds.value
                          || truth(r, 'verdict') !== verdicts.value)
                .map(r => r.cells[0].textContent.trim()),
      count: count ? count.textContent : null,
    });
    reset();
  }
  // sorting: the first table by its verdict column, ascending then descending
  const table = document.querySelector('#claims-dashboard table.claims-table');
  const heads = [...table.tHead.rows[0].cells];
  const col = heads.findIndex(th => th.textContent.trim() === 'Verdict');
  const order = () => [...table.tBodies[0].rows].map(r => Number(
    r.cells[col].querySelector('[data-sort]').getAttribute('data-sort')));
  heads[col].click();
  const up = order();
  const upSort = heads[col].getAttribute('aria-sort');
  heads[col].click();
  const down = order();
  out.sort = {
    column: col, rows: up.length,
    ascending: up.every((v, i) => i === 0 || up[i - 1] <= v) && upSort === 'ascending',
    descending: down.every((v, i) => i === 0 || down[i - 1] >= v)
                && heads[col].getAttribute('aria-sort') === 'descending',
  };
  // and by the full profile's verdict ("—" sorts after every verdict)
  const fcol = heads.findIndex(th => th.textContent.trim() === 'Full');
  if (fcol >= 0) {
    const forder = () => [...table.tBodies[0].rows].map(r => {
      const e = r.cells[fcol].querySelector('[data-sort]');
      return e ? Number(e.getAttribute('data-sort')) : NaN;
    });
    heads[fcol].click();
    const fup = forder();
    const fupSort = heads[fcol].getAttribute('aria-sort');
    heads[fcol].click();
    const fdown = forder();
    out.fullSort = {
      column: fcol, rows: fup.length,
      ascending: fup.every((v, i) => i === 0 || fup[i - 1] <= v) && fupSort === 'ascending',
      descending: fdown.every((v, i) => i === 0 || fdown[i - 1] >= v)
                  && heads[fcol].getAttribute('aria-sort') === 'descending',
    };
  }
  return out;
})()
"""


def dashboard_problems(result: dict[str, Any] | None) -> list[str]:
    """What is wrong with the dashboard's filter and sort, from :data:`DASHBOARD_EXERCISE`."""
    if result is None:
        return ["the claims dashboard has no filter controls (form.claims-filter)"]
    out = []
    if not result["formShown"]:
        out.append("dashboard filter controls are not shown")
    if result["unmarked"]:
        out.append(f"{result['unmarked']} dashboard row(s) without a span.claim-row")
    for step in result["steps"]:
        what = f"filter {step['field']}={step['value']!r}"
        if step["wrong"]:
            out.append(f"{what} shows non-matching rows {step['wrong'][:5]}")
        if step["shown"] != step["expected"]:
            out.append(f"{what} shows {step['shown']} rows, {step['expected']} match")
    for r in result["resets"]:
        if (r["shown"], r["collapsed"], r["selects"]) != (
            result["initiallyShown"],
            result["initiallyCollapsed"],
            "",
        ):
            out.append(f"reset does not restore the dashboard: {r}")
    sort = result.get("sort") or {}
    if not (sort.get("ascending") and sort.get("descending")):
        out.append(f"sorting by verdict does not order the rows: {sort}")
    full = result.get("fullSort")
    if full is None:
        out.append("the dashboard has no Full column (the full profile's verdicts)")
    elif not (full.get("ascending") and full.get("descending")):
        out.append(f"sorting by the full profile's verdict does not order the rows: {full}")
    return out


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env:
        return env
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


# --------------------------------------------------------------------------------------------
# Local HTTP server
# --------------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------------------------
# DevTools protocol
# --------------------------------------------------------------------------------------------


class CDP:
    """A minimal synchronous DevTools-protocol client (flattened sessions)."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        self.ws.close()

    def _recv(self, timeout: float) -> dict[str, Any]:
        self.ws.settimeout(timeout)
        msg: dict[str, Any] = json.loads(self.ws.recv())
        return msg

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 60,
    ) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no answer to {method} within {timeout} s")
            reply = self._recv(left)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 60) -> dict[str, Any]:
        for i, ev in enumerate(self.events):
            if ev["method"] == method and ev.get("sessionId") == session:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"timed out after {timeout} s waiting for {method}")
            ev = self._recv(left)
            if "method" not in ev:
                continue
            if ev["method"] == method and ev.get("sessionId") == session:
                return ev
            self.events.append(ev)

    def drain(self, seconds: float) -> None:
        """Collect the events that arrive during ``seconds``."""
        import websocket

        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                ev = self._recv(left)
            except websocket.WebSocketTimeoutException:
                break
            if "method" in ev:
                self.events.append(ev)


@contextlib.contextmanager
def chromium(binary: str) -> Iterator[CDP]:
    """Start headless Chromium with a fresh profile; yields a connected :class:`CDP`."""
    profile = Path(tempfile.mkdtemp(prefix="companion-chromium-"))
    cmd = [
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "--window-size=1280,1000",
        "about:blank",
    ]
    log = open(profile / "chromium.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    cdp = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if proc.poll() is not None:
                raise BrowserError(
                    f"chromium exited with {proc.returncode}: "
                    + (profile / "chromium.log").read_text(errors="replace")[-2000:]
                )
            if time.monotonic() > deadline:
                raise BrowserError("chromium did not open its DevTools port within 60 s")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        cdp = CDP(f"ws://127.0.0.1:{port}{path}")
        yield cdp
    finally:
        if cdp is not None:
            with contextlib.suppress(Exception):
                cdp.send("Browser.close", timeout=5)
            cdp.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Page checks
# --------------------------------------------------------------------------------------------


def _is_local(url: str) -> bool:
    return url.startswith(("http://127.0.0.1", "data:", "blob:", "about:", "chrome-error:"))


def _event_problems(events: list[dict[str, Any]], session: str) -> list[str]:
    out: list[str] = []
    failed_ids: set[str] = set()
    for ev in events:
        if ev.get("sessionId") != session:
            continue
        m, p = ev["method"], ev.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            out.append(f"console.{p['type']}: {args[:200]}")
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = d.get("exception", {}).get("description") or d.get("text", "")
            out.append(f"uncaught exception: {text[:200]}")
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            e = p["entry"]
            out.append(f"console ({e.get('source')}): {e.get('text', '')[:200]} {e.get('url', '')}")
        elif m == "Network.requestWillBeSent":
            url = p["request"]["url"]
            if not _is_local(url):
                out.append(f"request leaves localhost: {url}")
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            failed_ids.add(p["requestId"])
            out.append(f"failed to load a resource: {p.get('errorText')}")
        elif m == "Network.responseReceived" and p["response"].get("status", 200) >= 400:
            out.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
    return out


def check_page(
    cdp: CDP, url: str, screenshot: Path | None = None, settle: float = 0.3
) -> tuple[list[str], dict[str, Any]]:
    """Problems found on one page, and the probe's raw findings."""
    target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            cdp.send(f"{domain}.enable", session=session)
        cdp.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        cdp.send("Page.navigate", {"url": url}, session=session)
        cdp.wait_for("Page.loadEventFired", session, timeout=60)
        res = cdp.send(
            "Runtime.evaluate",
            {"expression": PAGE_PROBE, "awaitPromise": True, "returnByValue": True},
            session=session,
            timeout=60,
        )
        if "exceptionDetails" in res:
            raise BrowserError(f"page probe failed on {url}: {res['exceptionDetails']}")
        probe: dict[str, Any] = res["result"]["value"]
        cdp.drain(settle)
        problems = _event_problems(cdp.events, session)
        problems += [f"broken image: {s}" for s in probe["broken"]]
        problems += [f"math not typeset by MathJax: {s!r}" for s in probe["untypeset"]]
        problems += [f"MathJax error: {s!r}" for s in probe["texErrors"]]
        problems += [f"raw TeX left in the page: {s!r}" for s in probe["raw"]]
        if probe["math"] and not probe["mathjax"]:
            problems.append("page has math but MathJax did not load")
        if probe.get("dashboard") and probe["dashboard"]["table"]:
            probe["filter"] = None  # exercised after the screenshot (it sorts the tables)
        if screenshot is not None:
            metrics = cdp.send("Page.getLayoutMetrics", session=session)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            height = int(min(float(size["height"]), 8000.0))
            cdp.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            shot = cdp.send("Page.captureScreenshot", {"format": "png"}, session=session)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        if "filter" in probe:
            res = cdp.send(
                "Runtime.evaluate",
                {"expression": DASHBOARD_EXERCISE, "returnByValue": True},
                session=session,
                timeout=60,
            )
            if "exceptionDetails" in res:
                raise BrowserError(f"dashboard exercise failed on {url}: {res['exceptionDetails']}")
            probe["filter"] = res["result"].get("value")
            problems += dashboard_problems(probe["filter"])
        return problems, probe
    finally:
        cdp.events = [e for e in cdp.events if e.get("sessionId") != session]
        with contextlib.suppress(BrowserError):
            cdp.send("Target.closeTarget", {"targetId": target}, timeout=10)


def pages_of(html_dir: Path) -> list[str]:
    """Relative paths of the book's pages, without redirect stubs and theme templates."""
    out = []
    for p in sorted(html_dir.rglob("*.html")):
        rel = p.relative_to(html_dir)
        if "_static" in rel.parts:
            continue
        if 'http-equiv="Refresh"' in p.read_text(encoding="utf-8", errors="replace")[:2000]:
            continue
        out.append(rel.as_posix())
    return out


def check_site(
    html_dir: Path,
    screenshots: dict[str, Path] | None = None,
    binary: str | None = None,
) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """Check every page; returns (problems per page, probe findings per page)."""
    binary = binary or find_chromium()
    if binary is None:
        raise BrowserError("chromium is not installed (apt-get install chromium)")
    screenshots = screenshots or {}
    problems: dict[str, list[str]] = {}
    probes: dict[str, dict[str, Any]] = {}
    with serve(html_dir) as base, chromium(binary) as cdp:
        for rel in pages_of(html_dir):
            problems[rel], probes[rel] = check_page(cdp, base + rel, screenshots.get(rel))
    return problems, probes


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", nargs="?", default=str(ROOT / "_build" / "html"))
    ap.add_argument("--screenshot", action="append", default=[], help="page to capture")
    ap.add_argument("--artifacts", default=str(ROOT / "artifacts"))
    args = ap.parse_args(argv)
    html = Path(args.html)
    shots = {
        p: Path(args.artifacts) / (p.replace("/", "_").removesuffix(".html") + ".png")
        for p in args.screenshot
    }
    t0 = time.perf_counter()
    problems, _ = check_site(html, shots)
    bad = {k: v for k, v in problems.items() if v}
    for page, items in bad.items():
        for item in items:
            print(f"ERROR: {page}: {item}", file=sys.stderr)
    print(
        f"browser check: {len(problems)} pages, {len(bad)} with problems "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
