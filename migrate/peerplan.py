"""From other tools' histories to the conversations the store should hold (LEGACY_FORMATS §7).

The counterpart of :func:`migrate.plan.build_plan` for ``--from FORMAT``: each PATH is expanded
into the tool's units (a session file, a task folder, an export file), each unit is read on its
own — a bad one is reported with its path and skipped, unless ``strict`` — and every conversation
is finished as soon as it is read. :meth:`PeerReading.chunks` hands the conversations on in
chunks of a bounded number of messages, so an import of a huge history holds one chunk at a
time (plus, for a streamed export, the one conversation being read), never the whole history.
The same conversation met twice within a chunk is merged by the §4 rule; met in two chunks, the
second meets the first in the store, where the same rule applies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from .adapters.peer import PeerAdapter, Tally, finish
from .adapters.peers import PEER_FORMATS, peer_adapter
from .model import Conversation
from .plan import InputReport, Plan
from .problems import BadInput, Problem, Problems
from .rules import merge

#: Messages per chunk: big enough that a chunk fills the importer's batches, small enough that
#: memory stays flat (see docs/benchmarks.md).
CHUNK_MESSAGES = 20_000


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


class PeerReading:
    """One reading of a format's PATHs: the units, and each one's report once it is read."""

    def __init__(
        self,
        format_name: str,
        paths: Sequence[Path],
        *,
        strict: bool = False,
        on_unit: Callable[[str], None] | None = None,
    ) -> None:
        if format_name not in PEER_FORMATS:
            known = ", ".join(PEER_FORMATS)
            raise BadInput("--from", f"unknown format {format_name!r} (one of {known})")
        self.format = format_name
        self.adapter = peer_adapter(format_name)
        self.units = expand(self.adapter, paths)
        self.strict = strict
        self.on_unit = on_unit
        self.inputs: list[InputReport] = []
        self.notes = Problems("(several files)")

    def _unit(self, unit: Path, sink: Callable[[Conversation], None]) -> Iterator[None]:
        """Read one unit into ``sink``, pausing after each conversation (so the caller can hand
        a full chunk on); its report is added to ``inputs`` at the end."""
        if self.on_unit is not None:
            self.on_unit(str(unit))
        label = str(unit)
        problems = Problems(label)
        tally = Tally()
        report = InputReport(label, f"{self.format} history", unit_size(unit), [self.format])
        try:
            for thread in self.adapter.read(unit, problems):
                sink(finish(thread, problems, tally))
                yield
        except BadInput as exc:
            kept = tally.conversations
            note = f" ({kept} conversation(s) read before it kept)" if kept else ""
            problems.error(None, f"skipped: {exc.reason}{note}")
        report.conversations = tally.conversations
        report.messages = tally.messages
        report.hidden_skipped = tally.hidden_skipped
        report.large_parts_replaced = tally.large_parts_replaced
        report.problems = problems.items
        self.inputs.append(report)
        if self.strict and (errors := [p for p in problems.items if p.severity == "error"]):
            raise BadInput(label, _strict_reason(errors[0]))

    def chunks(self, size: int | None = None) -> Iterator[list[Conversation]]:
        """The conversations, about ``size`` messages at a time (default CHUNK_MESSAGES)."""
        size = CHUNK_MESSAGES if size is None else size
        by_id: dict[str, Conversation] = {}
        held = 0

        def add(conversation: Conversation) -> None:
            nonlocal held
            held += len(conversation.messages) + sum(len(b.messages) for b in conversation.branches)
            existing = by_id.get(conversation.store_id)
            if existing is None:
                by_id[conversation.store_id] = conversation
                return
            outcome = merge(existing, conversation)
            self.notes.info(
                None,
                f"{conversation.identity}: copies in {', '.join(existing.files)} merged"
                + (f" (diverging tail kept on branch {outcome.branch})" if outcome.branch else ""),
            )

        for unit in self.units:
            for _ in self._unit(unit, add):
                if held >= size:
                    yield list(by_id.values())
                    by_id, held = {}, 0
        if by_id:
            yield list(by_id.values())

    def check(self) -> None:
        """Read everything, keeping nothing: BadInput at the first error (``--strict`` runs this
        before writing, so a bad unit anywhere means nothing is written)."""
        for unit in self.units:
            for _ in self._unit(unit, lambda conversation: None):
                pass
        self.inputs = []

    def plan(self, conversations: list[Conversation]) -> Plan:
        """A plan of one chunk, carrying the reports of the units read so far."""
        return Plan(self.inputs, [*conversations], [], self.notes.items, 0)


def _strict_reason(problem: Problem) -> str:
    where = f"[{problem.key}] " if problem.key else ""
    return f"{where}{problem.message} (--strict)"


def build_peer_plan(
    format_name: str,
    paths: Sequence[Path],
    *,
    strict: bool = False,
    on_unit: Callable[[str], None] | None = None,
) -> tuple[Plan, list[Path]]:
    """Everything in one plan (for inspection and tests), and the units it read."""
    reading = PeerReading(format_name, paths, strict=strict, on_unit=on_unit)
    conversations = [c for chunk in reading.chunks(size=2**62) for c in chunk]
    return reading.plan(conversations), reading.units
