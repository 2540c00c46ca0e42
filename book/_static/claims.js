/* Claims dashboard (book/intro.md): filter the claims by paper, kind and verdict, and sort
   each table by clicking a column header. Static and offline; registered in _config.yml.

   It works on the plain tables that scripts/make_pages.py writes (class "claims-table"). The
   first cell of every row holds an empty span.claim-row whose data-paper, data-kind and
   data-verdict are copied onto the row; a cell that holds an element with data-sort sorts by
   that value (measured values, kinds and verdicts), any other by its text. Without
   JavaScript the tables are complete and the filter controls stay hidden. */
(function () {
  "use strict";

  const FIELDS = ["paper", "kind", "verdict"];

  function isNumber(s) {
    return s !== "" && Number.isFinite(Number(s));
  }

  function sortKey(row, col) {
    const cell = row.cells[col];
    if (!cell) return "";
    const el = cell.querySelector("[data-sort]");
    return el ? el.getAttribute("data-sort") : cell.textContent.trim();
  }

  /* Numbers before text (a nan sorts last), ids in natural order (E1.10 after E1.2). */
  function compareKeys(a, b) {
    const na = isNumber(a);
    const nb = isNumber(b);
    if (na && nb) return Number(a) - Number(b);
    if (na !== nb) return na ? -1 : 1;
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }

  function sortTable(table, col, th) {
    const dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    for (const h of table.tHead.rows[0].cells) h.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir);
    const sign = dir === "ascending" ? 1 : -1;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort(
      (r, s) =>
        sign * compareKeys(sortKey(r, col), sortKey(s, col)) ||
        Number(r.dataset.order) - Number(s.dataset.order),
    );
    for (const r of rows) body.appendChild(r);
  }

  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length) return;
    Array.from(table.tBodies[0].rows).forEach((r, i) => {
      r.dataset.order = String(i);
    });
    Array.from(table.tHead.rows[0].cells).forEach((th, col) => {
      th.classList.add("claims-sortable");
      th.tabIndex = 0;
      th.title = "Sort by " + th.textContent.trim().toLowerCase();
      th.addEventListener("click", () => sortTable(table, col, th));
      th.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          sortTable(table, col, th);
        }
      });
    });
  }

  function setup() {
    const tables = Array.from(document.querySelectorAll("table.claims-table"));
    if (!tables.length) return;
    const rows = [];
    for (const table of tables) {
      for (const body of table.tBodies) {
        for (const tr of body.rows) {
          const marker = tr.querySelector(".claim-row");
          if (!marker) continue;
          for (const f of FIELDS) tr.dataset[f] = marker.dataset[f] || "";
          rows.push(tr);
        }
      }
      makeSortable(table);
    }

    const form = document.querySelector("form.claims-filter");
    if (!form) return;
    const selects = Array.from(form.querySelectorAll("select[data-filter]"));
    const count = form.querySelector(".claims-filter-count");
    // the sections of the dashboard (one per paper, and the checks): hidden when a filter
    // leaves none of their rows; a collapsed one (the checks) opens when it holds a match
    const sections = Array.from(document.querySelectorAll(".claims-section"))
      .map((m) => m.closest("section"))
      .filter((s) => s && s.id !== "claims-dashboard" && !s.querySelector("#claims-dashboard"));
    const details = Array.from(new Set(tables.map((t) => t.closest("details")).filter(Boolean)));
    const wasOpen = new Map();
    let wasActive = false;

    function apply() {
      const want = {};
      for (const s of selects) if (s.value) want[s.dataset.filter] = s.value;
      const active = Object.keys(want).length > 0;
      let shown = 0;
      for (const tr of rows) {
        const ok = Object.keys(want).every((k) => tr.dataset[k] === want[k]);
        tr.hidden = !ok;
        if (ok) shown += 1;
      }
      for (const section of sections) {
        const match = section.querySelector("table.claims-table tbody tr:not([hidden])");
        section.hidden = active && !match;
      }
      for (const d of details) {
        // open what holds a match while filtering; afterwards, restore what the reader had
        if (active && !wasActive) wasOpen.set(d, d.open);
        if (active) d.open = !!d.querySelector("tbody tr:not([hidden])");
        else if (wasActive) d.open = wasOpen.get(d);
      }
      wasActive = active;
      form.classList.toggle("claims-filter-active", active);
      if (count) {
        count.textContent = active
          ? `${shown} of ${rows.length} claims match`
          : `${rows.length} claims`;
      }
    }

    for (const s of selects) s.addEventListener("change", apply);
    const reset = form.querySelector(".claims-filter-reset");
    if (reset) {
      reset.addEventListener("click", () => {
        for (const s of selects) s.value = "";
        apply();
      });
    }
    form.addEventListener("submit", (e) => e.preventDefault());
    apply();
    form.hidden = false;
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
