"""``chat-sidecar serve`` without the CLI framework: its options read from the settings table.

Typer (0.29) imports pydantic when it runs a command, and both cost ~250 ms of CPU before the
ready line on every start. ``serve`` is what the extension runs on every window, so its ordinary
command lines (``--flag value``, ``--flag=value``, the two boolean flags) are parsed here, with the
same conversions Typer applies (``int``, ``float``, ``Path``, ``str``; a repeatable flag keeps each
value as given). Anything else — ``--help``, an unknown or malformed option, a value Typer would
refuse, a boolean or list setting given through the environment (Typer's own rules for those
differ from the table's) — returns ``None`` and the caller hands the command line to Typer, so
help, usage errors and exit codes stay Typer's, byte for byte.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .logformat import SecondCachedFormatter
from .settings import BY_NAME, SETTINGS, ServerConfig

#: ``serve``'s one option that is not a setting.
RELOAD_FLAG = "--reload"
_VALUE_TYPES = (str, int, float, Path)


def setup_logging(level: str | None) -> None:
    chosen = (level or BY_NAME["log_level"].from_env()).upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SecondCachedFormatter())  # the access log: one line per request
    logging.basicConfig(level=getattr(logging, chosen, logging.INFO), handlers=[handler])


def parse_serve_args(
    args: Sequence[str], environ: Mapping[str, str]
) -> tuple[dict[str, Any], bool] | None:
    """``serve``'s flags (each ``None`` unless given, a repeatable one a list) and ``--reload``,
    or ``None`` when Typer must see the command line (see the module's docstring)."""
    by_flag = {setting.flag: setting for setting in SETTINGS}
    flags: dict[str, Any] = {setting.name: None for setting in SETTINGS}
    reload = False
    position = 0
    while position < len(args):
        token = args[position]
        position += 1
        name, has_value, inline = token.partition("=")
        if name == RELOAD_FLAG and not has_value:
            reload = True
            continue
        setting = by_flag.get(name)
        if setting is None:
            return None
        kind = setting.cli_type
        if kind is bool:
            if has_value:
                return None
            flags[setting.name] = True
            continue
        if has_value:
            raw = inline
        elif position < len(args) and not args[position].startswith("--"):
            raw = args[position]
            position += 1
        else:
            return None
        if kind == list[str]:
            flags[setting.name] = [*(flags[setting.name] or []), raw]
            continue
        value = _convert(kind, raw)
        if value is None:
            return None
        flags[setting.name] = value
    for setting in SETTINGS:
        env_value = environ.get(setting.env)
        if flags[setting.name] is not None or not env_value:
            continue
        # Typer reads the environment too (a value there counts as the flag): a value it would
        # convert the same way is left to ``ServerConfig.resolve``; the rest goes to Typer.
        if setting.cli_type not in _VALUE_TYPES or _convert(setting.cli_type, env_value) is None:
            return None
    return flags, reload


def _convert(kind: Any, raw: str) -> Any:
    """``raw`` as Typer converts it to ``kind``, or ``None`` where Typer would refuse it (or where
    its conversion is not plainly ``kind(raw)``: an empty path, digits other than ASCII)."""
    if kind not in _VALUE_TYPES or (kind is Path and not raw):
        return None
    if kind in (int, float) and not raw.isascii():
        return None  # Python reads other scripts' digits, Typer (pydantic) refuses them
    try:
        return kind(raw)
    except ValueError:
        return None


def run_serve(flags: Mapping[str, Any], reload: bool) -> int:
    """Run ``serve`` with the flags given (``None``: not given); returns the exit code."""
    setup_logging(flags["log_level"])
    # A repeatable flag arrives as a list; given none, it is left to the environment.
    given: dict[str, Any] = {
        name: (tuple(value) or None) if isinstance(value, list) else value
        for name, value in flags.items()
    }
    try:
        config = ServerConfig.resolve(**given)
    except ValueError as exc:
        print(f"chat-sidecar: {exc}", file=sys.stderr)
        return 2
    from .server import run

    if reload:
        from watchfiles import run_process

        package = Path(__file__).resolve().parent
        return int(run_process(package, target=run, args=(config,), sigint_timeout=10))
    return run(config)


def fast_serve(args: Sequence[str]) -> int | None:
    """``serve``'s exit code when ``args`` is a ``serve`` command line parsed here, else ``None``
    (nothing has run then)."""
    if not args or args[0] != "serve":
        return None
    parsed = parse_serve_args(args[1:], os.environ)
    if parsed is None:
        return None
    return run_serve(*parsed)
