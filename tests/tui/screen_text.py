"""The screen as text lines, read back from Textual's SVG screenshot (what a user sees)."""

from __future__ import annotations

import html
import re
from typing import Any

from textual.app import App

_TEXT = re.compile(r'<text[^>]*?x="([\d.]+)"[^>]*?y="([\d.]+)"[^>]*>(.*?)</text>', re.S)


def screen_lines(app: App[Any]) -> list[str]:
    rows: dict[float, list[tuple[float, str]]] = {}
    for m in _TEXT.finditer(app.export_screenshot()):
        text = html.unescape(re.sub("<[^>]+>", "", m.group(3)))
        rows.setdefault(float(m.group(2)), []).append((float(m.group(1)), text))
    return ["".join(t for _, t in sorted(parts)).replace("\xa0", " ").rstrip()
            for _, parts in sorted(rows.items())]
