#!/usr/bin/env python3
"""Rewrite ``__all__`` in xcptui/engine/__init__.py from its ``_EXPORTS`` table."""

import ast
import re
from pathlib import Path

INIT = Path(__file__).resolve().parent.parent / "xcptui/engine/__init__.py"


def main() -> None:
    text = INIT.read_text()
    tree = ast.parse(text)
    exports = next(n for n in tree.body if isinstance(n, ast.AnnAssign)
                   and getattr(n.target, "id", "") == "_EXPORTS")
    names = sorted(ast.literal_eval(exports.value))
    lines, cur = ["__all__ = ["], "   "
    for n in names:
        item = f' "{n}",'
        if len(cur) + len(item) > 96:
            lines.append(cur)
            cur = "   "
        cur += item
    lines += [cur, "]"]
    text = re.sub(r"^__all__ = \[.*?^\]", "\n".join(lines), text, count=1, flags=re.M | re.S)
    INIT.write_text(text)


if __name__ == "__main__":
    main()
