"""Trees of messages (ChatGPT's ``mapping``, Open WebUI's ``history.messages``) as paths.

The tool's current node ends the main path; every other leaf's whole path from the root is a
branch (LEGACY_FORMATS §7). Walks are iterative: a long conversation is a deep tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def path_to(node_id: str, parent_of: Callable[[str], str | None], known: set[str]) -> list[str]:
    """The ids from the root down to ``node_id`` (a cycle in broken data stops the walk)."""
    path: list[str] = []
    seen: set[str] = set()
    current: str | None = node_id
    while current is not None and current in known and current not in seen:
        seen.add(current)
        path.append(current)
        current = parent_of(current)
    path.reverse()
    return path


def leaves(roots: list[str], children_of: Callable[[str], list[str]], known: set[str]) -> list[str]:
    """Every leaf, in depth-first order following each node's children as the tool lists them."""
    found: list[str] = []
    stack = list(reversed(roots))
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        kids = [k for k in children_of(node) if k in known and k not in seen]
        if kids:
            stack.extend(reversed(kids))
        else:
            found.append(node)
    return found


def paths(
    mapping: dict[str, Any],
    current: str | None,
    parent_of: Callable[[str], str | None],
    children_of: Callable[[str], list[str]],
) -> tuple[list[str], list[list[str]], bool]:
    """(main path, every other leaf's path, whether ``current`` was usable).

    Without a usable current node the main path ends at the last leaf in depth-first order.
    """
    known = set(mapping)
    roots = [n for n in mapping if parent_of(n) not in known]
    every = leaves(roots, children_of, known)
    usable = current is not None and current in known
    end = current if usable else (every[-1] if every else None)
    main = path_to(end, parent_of, known) if end is not None else []
    on_main = set(main)
    others = [path_to(leaf, parent_of, known) for leaf in every if leaf not in on_main]
    return main, others, usable
