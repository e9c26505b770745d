"""From other tools' histories to the conversations the store should hold (LEGACY_FORMATS §7).

The counterpart of :func:`migrate.plan.build_plan` for ``--from FORMAT``: each PATH is expanded
into the tool's units (a session file, a task folder, an export file), each unit is read on its
own — a bad one is reported with its path and skipped, unless ``strict`` — and every conversation
is finished as soon as it is read, so only the normalised conversations are held, never the raw
files. The same conversation met twice (two copies of one export) is merged by the §4 rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from .adapters.peer import PeerAdapter, Tally, finish
from .adapters.peers import PEER_FORMATS, peer_adapter
from .model import Conversation
from .plan import InputReport, Plan
from .problems import BadInput, Problems
from .rules import merge


def unit_size(unit: Path) -> int:
    if unit.is_dir():
        return sum(p.stat().st_size for p in unit.iterdir() if p.is_file())
    return unit.stat().st_size


def expand(adapter: PeerAdapter, paths: Sequence[Path]) -> list[Path]:
    """Every unit the PATHs hold; a PATH that does not exist, or holds nothing of this tool's, is
    bad input (exit 2): the user named it, so it is not a place to skip quietly."""
    units: list[Path] = []
    for path in paths:
        if not path.exists():
            raise BadInput(str(path), "no such file or folder")
        found = adapter.units(path)
        if not found:
            raise BadInput(str(path), f"holds no {adapter.name} history")
        units.extend(u for u in found if u not in units)
    return units


def read_unit(
    adapter: PeerAdapter, unit: Path, sink: Callable[[Conversation], None]
) -> InputReport:
    """Read one unit into ``sink``; what it held, and its problems, as an input report."""
    label = str(unit)
    problems = Problems(label)
    tally = Tally()
    report = InputReport(label, f"{adapter.name} history", unit_size(unit), [adapter.name])
    try:
        for thread in adapter.read(unit, problems):
            sink(finish(thread, problems, tally))
    except BadInput as exc:
        kept = (
            f" ({tally.conversations} conversation(s) read before it kept)"
            if tally.conversations
            else ""
        )
        problems.error(None, f"skipped: {exc.reason}{kept}")
    report.conversations = tally.conversations
    report.messages = tally.messages
    report.hidden_skipped = tally.hidden_skipped
    report.large_parts_replaced = tally.large_parts_replaced
    report.problems = problems.items
    return report


def build_peer_plan(
    format_name: str,
    paths: Sequence[Path],
    *,
    strict: bool = False,
    on_unit: Callable[[str], None] | None = None,
) -> tuple[Plan, list[Path]]:
    """The plan and the units it read (the run keeps a copy of each)."""
    if format_name not in PEER_FORMATS:
        raise BadInput(
            "--from", f"unknown format {format_name!r} (one of {', '.join(PEER_FORMATS)})"
        )
    adapter = peer_adapter(format_name)
    units = expand(adapter, paths)
    by_id: dict[str, Conversation] = {}
    notes = Problems("(several files)")
    inputs: list[InputReport] = []

    def add(conversation: Conversation) -> None:
        existing = by_id.get(conversation.store_id)
        if existing is None:
            by_id[conversation.store_id] = conversation
            return
        outcome = merge(existing, conversation)
        notes.info(
            None,
            f"{conversation.identity}: copies in {', '.join(existing.files)} merged"
            + (f" (diverging tail kept on branch {outcome.branch})" if outcome.branch else ""),
        )

    for unit in units:
        if on_unit is not None:
            on_unit(str(unit))
        report = read_unit(adapter, unit, add)
        if strict and (errors := [p for p in report.problems if p.severity == "error"]):
            first = errors[0]
            where = f"[{first.key}] " if first.key else ""
            raise BadInput(report.path, f"{where}{first.message} (--strict)")
        inputs.append(report)
    return Plan(inputs, list(by_id.values()), [], notes.items, 0), units
