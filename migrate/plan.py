"""From export files to the conversations the store should hold: every rule, nothing written.

``build_plan`` reads each file once (its raw legacy records are dropped as soon as they are
normalised), merges copies of the same conversation, and applies the cross-app rule. The store is
not consulted here; :mod:`migrate.apply` aligns the plan with the store's existing copies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .adapters import ADAPTERS, Adapter, Extraction
from .inputs import Input, as_input
from .model import RawConversation
from .normalize import normalise
from .problems import BadInput, Problem, Problems
from .reading import ExportFile, parse_text, read_export, report_broken
from .rules import absorb, find_cross_app, merge
from .shelf import Planned, Shelf, Shelved
from .spill import Spill


@dataclass(slots=True)
class InputReport:
    """One input file as ``inspect`` and ``report.json`` describe it."""

    path: str
    shape: str
    size: int
    apps: list[str] = field(default_factory=list)
    conversations: int = 0
    messages: int = 0
    unrelated_keys: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: Other tools' histories (§7): messages the tool hid, binary parts over 1 MiB replaced.
    hidden_skipped: int = 0
    large_parts_replaced: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "shape": self.shape,
            "bytes": self.size,
            "apps": self.apps,
            "conversations": self.conversations,
            "messages": self.messages,
            "unrelated_keys": self.unrelated_keys,
            "hidden_skipped": self.hidden_skipped,
            "large_parts_replaced": self.large_parts_replaced,
            "problems": [p.to_json() for p in self.problems],
        }


@dataclass(slots=True)
class Plan:
    """What to import. ``conversations``: shelved for legacy exports (:func:`build_plan`), in
    memory for a chunk of another tool's history; :func:`migrate.shelf.loaded` gives either."""

    inputs: list[InputReport]
    conversations: list[Planned]
    documents: list[dict[str, Any]]
    notes: list[Problem]
    dropped: int
    shared: int = 0

    @property
    def hidden_skipped(self) -> int:
        return sum(i.hidden_skipped for i in self.inputs)

    @property
    def large_parts_replaced(self) -> int:
        return sum(i.large_parts_replaced for i in self.inputs)

    @property
    def problems(self) -> list[Problem]:
        return [p for i in self.inputs for p in i.problems] + self.notes


def _by_key(key: str) -> Adapter | None:
    return next((a for a in ADAPTERS if a.claims_key(key)), None)


def _by_value(key: str, value: Any) -> Adapter | None:
    return next((a for a in ADAPTERS if a.claims_value(key, value)), None)


def scan_file(
    export: ExportFile, sink: Callable[[RawConversation], None]
) -> tuple[InputReport, list[dict[str, Any]]]:
    """Sort the file's keys among the adapters (unclaimed ones are unrelated) and run them.

    Legacy conversations go to ``sink`` as they are read; chat-sidecar ones are returned.
    """
    problems = Problems(export.label)
    report = InputReport(export.label, export.shape, export.size)
    claimed: dict[str, dict[str, Any]] = {}
    items = export.items
    if export.broken:
        report_broken(problems, None, export.broken)
    for key, count in export.repeated.items():
        problems.error(
            key,
            f"the key appears {count} times in the file: only its last value was read "
            "(the earlier ones were not imported)",
        )
    for key in list(items):
        value = items.pop(key)
        adapter = _by_key(key)
        if adapter is None:
            try:
                value, broken = parse_text(value)
            except ValueError:
                report.unrelated_keys.append(key)
                continue
            adapter = _by_value(key, value)
            if adapter is not None and broken:
                report_broken(problems, key, broken)
        if adapter is None:
            report.unrelated_keys.append(key)
        else:
            claimed.setdefault(adapter.name, {})[key] = value
    if not claimed:
        seen = ", ".join(report.unrelated_keys[:5]) or "none"
        raise BadInput(export.label, f"no known app's keys (keys: {seen})")
    report.problems = problems.items
    out = Extraction(sink)
    for adapter in ADAPTERS:
        if adapter.name in claimed:
            adapter.extract(claimed.pop(adapter.name), export.label, problems, out)
            report.apps.append(adapter.name)
    report.conversations = out.conversations + len(out.documents)
    report.messages = out.messages + sum(len(d.get("messages") or []) for d in out.documents)
    return report, out.documents


def build_plan(
    paths: Sequence[Path | Input],
    *,
    window_ms: int,
    strict: bool = False,
    on_file: Callable[[str], None] | None = None,
) -> Plan:
    """Read, normalise and merge; :class:`BadInput` for a bad file (or any error with strict).

    Each conversation is shelved (:mod:`migrate.shelf`) as soon as it is normalised, so the
    plan holds no message content however big the exports are; a second copy of it (another
    export) is merged with the shelved one, loaded for that moment.
    """
    inputs: list[InputReport] = []
    shelf = Shelf()
    by_id: dict[str, Shelved] = {}
    documents: dict[str, dict[str, Any]] = {}
    notes = Problems("(several files)")
    for item in paths:
        path, label = as_input(item).path, as_input(item).label
        if on_file is not None:
            on_file(label)
        problems = Problems(label)

        def add(raw: RawConversation, problems: Problems = problems) -> None:
            conversation = normalise(raw, problems, window_ms)
            shelved = by_id.get(conversation.store_id)
            if shelved is None:
                by_id[conversation.store_id] = shelf.keep(conversation)
                return
            existing = shelved.load()
            if existing.identity != conversation.identity:
                conversation.aliases.append(conversation.identity)
            outcome = merge(existing, conversation)
            by_id[conversation.store_id] = shelf.keep(existing)
            notes.info(
                None,
                f"{conversation.identity}: copies in {', '.join(existing.files)} merged"
                + (f" (diverging tail kept on branch {outcome.branch})" if outcome.branch else ""),
            )

        values = Spill()  # the file's long values, until the adapters have parsed them
        try:
            report, found = scan_file(read_export(path, label, values), add)
        finally:
            values.close()
        report.problems.extend(problems.items)
        for document in found:
            documents[document["id"]] = document
        if strict and (errors := [p for p in report.problems if p.severity == "error"]):
            first = errors[0]
            raise BadInput(label, f"[{first.key}] {first.message} (--strict)")
        inputs.append(report)
    conversations = list(by_id.values())
    cross = find_cross_app(conversations)
    gone: set[int] = set()
    for index, into in cross.merges:
        source, target = conversations[index], conversations[into]
        absorb(target.head, source.head, source.size)
        gone.add(index)
        notes.info(
            None,
            f"{source.identity} is a copy of {target.identity} "
            f"({source.size} messages): merged into {target.store_id}",
        )
    for index, others in cross.possible:
        shown = ", ".join(conversations[o].identity for o in others[:5])
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        notes.info(
            None,
            f"{conversations[index].identity} may be a duplicate of {shown}{more} "
            "(too short or ambiguous to merge)",
        )
    kept = [c for i, c in enumerate(conversations) if i not in gone]
    for conversation in kept:
        head = conversation.head
        if head.aliases:
            head.metadata["migration"]["aliases"] = list(head.aliases)
    dropped = sum(c.head.dropped for c in kept)
    shared = sum(c.head.shared for c in kept)
    planned: list[Planned] = [*kept]
    return Plan(inputs, planned, list(documents.values()), notes.items, dropped, shared)
