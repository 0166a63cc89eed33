"""Resolving paths through the symlinks stored in an image (or in a planned one)."""

from __future__ import annotations

from collections.abc import Callable

MAX_SYMLINK_HOPS = 40


def resolve_links(p: str, link_of: Callable[[str], str | None], follow_last: bool
                  ) -> str | None:
    """Resolve symlinks component by component, like the kernel would after unpacking.

    ``link_of`` gives the target of a symlink at a resolved path (None: not a symlink).
    Returns None after too many hops (a loop).
    """
    parts = [x for x in p.split("/") if x]
    done: list[str] = []
    hops = 0
    while parts:
        comp = parts.pop(0)
        if comp == "..":
            if done:
                done.pop()
            continue
        if comp == ".":
            continue
        cur = "/".join([*done, comp])
        target = link_of(cur) if (parts or follow_last) else None
        if target is None:
            done.append(comp)
            continue
        hops += 1
        if hops > MAX_SYMLINK_HOPS:
            return None
        base = [] if target.startswith("/") else list(done)
        parts = [x for x in target.split("/") if x and x != "."] + parts
        done = base
    return "/".join(done)
