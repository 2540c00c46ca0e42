"""Small Sphinx fixes for the companion book (loaded through ``_config.yml``).

* Inline scripts registered after the builder starts (sphinx-thebe's ``const THEBE_JS_URL``,
  sphinx-togglebutton's selector) end up twice in every page with Jupyter Book 1.0.4 and
  Sphinx 7.4; the second ``const`` declaration throws a SyntaxError in the browser. Identical
  script entries are dropped here, keeping the first.
"""

from __future__ import annotations

from typing import Any


def _dedupe_scripts(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    unique = []
    for js in scripts:
        attrs = getattr(js, "attributes", None) or {}
        key = (str(getattr(js, "filename", js) or ""), repr(sorted(attrs.items())))
        # (inline scripts have filename None or "" depending on when they were added)
        if key in seen:
            continue
        seen.add(key)
        unique.append(js)
    context["script_files"] = unique


def setup(app: Any) -> dict[str, Any]:
    # run last: some scripts are added by other html-page-context handlers
    app.connect("html-page-context", _dedupe_scripts, priority=999)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
