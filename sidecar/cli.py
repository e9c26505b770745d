"""``chat-sidecar``: the command line. Options come from :mod:`sidecar.settings`.

With ``--json``, every command prints JSON on stdout, its errors included: ``{"error": {code,
message, details}}`` with the codes of CONTRACT §3 (usage errors too: ``bad_request``), and the
same exit code as without ``--json``.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import webbrowser
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer

from .serving import run_serve, setup_logging
from .settings import BY_NAME, SETTINGS, ServerConfig
from .store import StoreError, StoreLocked
from .store.doctor import run_doctor
from .store.layout import Layout
from .store.lock import is_owned

app = typer.Typer(
    name="chat-sidecar",
    help="A localhost server that owns all AI chat history for editor extensions.",
    no_args_is_help=True,
    add_completion=False,
)


def _option(name: str) -> typer.models.OptionInfo:
    setting = BY_NAME[name]
    return typer.Option(setting.flag, envvar=setting.env, help=setting.help)  # type: ignore[no-any-return]


DataDir = Annotated[Path | None, _option("data_dir")]
LogLevel = Annotated[str | None, _option("log_level")]
JSON_FLAG = "--json"


def _fail(
    code: str, message: str, exit_code: int, as_json: bool, details: dict[str, Any] | None = None
) -> NoReturn:
    """Stop with one line on stderr, or with ``{"error": ...}`` on stdout under ``--json``."""
    if as_json:
        error = {"code": code, "message": message, "details": details or {}}
        typer.echo(orjson.dumps({"error": error}).decode())
    else:
        typer.echo(message, err=True)
    raise typer.Exit(exit_code)


def _resolve(as_json: bool = False, **flags: Any) -> ServerConfig:
    """The settings, or exit 2 with the one-line reason a value is refused (nothing started)."""
    try:
        return ServerConfig.resolve(**flags)
    except ValueError as exc:
        _fail("validation_failed", f"chat-sidecar: {exc}", 2, as_json)


def _data_dir(data_dir: Path | None, as_json: bool = False) -> Path:
    """The data dir given, or the environment's, or the default (absolute)."""
    try:
        return (data_dir or BY_NAME["data_dir"].from_env()).resolve()
    except (ValueError, OSError) as exc:
        _fail("validation_failed", f"chat-sidecar: bad data dir: {exc}", 2, as_json)


def _serve_signature() -> inspect.Signature:
    """``serve``'s options: one per row of the settings table, in its order, then ``--reload``.

    Each is ``None`` unless given, so that ``ServerConfig.resolve`` can tell a flag from the
    environment's value and the table's default.
    """
    options = [
        inspect.Parameter(
            setting.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[setting.cli_type | None, _option(setting.name)],
        )
        for setting in SETTINGS
    ]
    reload = inspect.Parameter(
        "reload",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool, typer.Option("--reload", help="Development: restart when the code changes.")
        ],
    )
    return inspect.Signature([*options, reload])


def serve(*, reload: bool = False, **flags: Any) -> None:
    """Run the sidecar on a data dir (or attach to the one already running there).

    Prints one JSON ready line on stdout (logs go to stderr) and writes it to DATA_DIR/sidecar.json.
    The token is random per launch unless CHAT_SIDECAR_TOKEN is set.
    """
    raise typer.Exit(run_serve(flags, reload))


# Typer reads a command's options from its signature and annotations: here, the table's.
_SERVE_SIGNATURE = _serve_signature()
serve.__signature__ = _SERVE_SIGNATURE  # type: ignore[attr-defined]
serve.__annotations__ = {p.name: p.annotation for p in _SERVE_SIGNATURE.parameters.values()}
app.command()(serve)


@app.command()
def status(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option(JSON_FLAG, help="Print the health as JSON.")] = False,
) -> None:
    """Exit 0 and print the owner's health and the chat UI's address when a sidecar runs on the
    data dir, else exit 1."""
    from .runtime import fetch_health, owner_handshake, ui_address

    folder = _data_dir(data_dir, as_json)

    async def probe() -> dict[str, object] | None:
        owner = await owner_handshake(folder)
        if owner is None:
            return None
        health = await fetch_health(str(owner["url"]), str(owner["token"]))
        return None if health is None else {**health, "ui_url": ui_address(owner)}

    health = asyncio.run(probe())
    if health is None:
        _fail("not_found", f"no sidecar is running on {folder}", 1, as_json)
    if as_json:
        typer.echo(orjson.dumps(health).decode())
    else:
        store = health.get("store", {})
        assert isinstance(store, dict)
        typer.echo(
            f"{health['status']}: pid {health['pid']}, {store.get('conversations')} conversations,"
            f" {store.get('messages')} messages, data dir {health['data_dir']}"
        )
        typer.echo(f"chat UI: {health['ui_url']}")


@app.command("open")
def open_ui(
    data_dir: DataDir = None,
    as_json: Annotated[
        bool, typer.Option(JSON_FLAG, help="Print {url, ui_url, opened, attached} as JSON.")
    ] = False,
) -> None:
    """Open the chat UI in the browser, starting a sidecar on the data dir if none runs.

    A sidecar this starts keeps running after this command exits (until stopped, or idle for
    its idle timeout). Prints the UI's address; with no browser available, that is all it does
    (still exit 0). Exit 1: no sidecar could be started.
    """
    from .launcher import LaunchError, find_or_start
    from .runtime import ui_address

    folder = _data_dir(data_dir, as_json)
    try:
        owner = asyncio.run(find_or_start(folder))
    except LaunchError as exc:
        _fail("unavailable", f"chat-sidecar open: {exc}", 1, as_json)
    address = ui_address(owner)
    try:
        opened = webbrowser.open(address)
    except webbrowser.Error:
        opened = False
    if as_json:
        body = {
            "url": owner["url"],
            "ui_url": address,
            "opened": opened,
            "attached": bool(owner.get("attached")),
        }
        typer.echo(orjson.dumps(body).decode())
        return
    typer.echo(address)
    if not opened:
        typer.echo("no browser available: open the address above", err=True)


sync_app = typer.Typer(help="Several machines, one history: sync through a PostgreSQL hub.")
app.add_typer(sync_app, name="sync")


@sync_app.command("status")
def sync_status(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the sync block as JSON.")] = False,
) -> None:
    """Print the running sidecar's sync state (exit 1 when no sidecar runs on the data dir)."""
    from .runtime import fetch_health, owner_handshake

    folder = (data_dir or BY_NAME["data_dir"].from_env()).resolve()

    async def probe() -> dict[str, object] | None:
        owner = await owner_handshake(folder)
        if owner is None:
            return None
        return await fetch_health(str(owner["url"]), str(owner["token"]))

    health = asyncio.run(probe())
    if health is None:
        if as_json:
            body = {"code": "not_found", "message": f"no sidecar is running on {folder}"}
            typer.echo(orjson.dumps({"error": body}).decode())
        else:
            typer.echo(f"no sidecar is running on {folder}", err=True)
        raise typer.Exit(1)
    sync = health.get("sync") or {"state": "off"}
    assert isinstance(sync, dict)
    if as_json:
        typer.echo(orjson.dumps(sync).decode())
        return
    if sync.get("state") == "off":
        typer.echo("sync: off (start the sidecar with --sync-url to share history)")
        return
    typer.echo(
        f"sync: {sync['state']} with {sync.get('hub')} as {sync.get('device_name')} "
        f"({sync.get('device_id')}); {sync.get('pending')} pending, "
        f"last push {sync.get('last_push_at') or 'never'}, "
        f"last pull {sync.get('last_pull_at') or 'never'}"
        + (f"; {sync['error']}" if sync.get("error") else "")
    )


@app.command()
def stop(data_dir: DataDir = None) -> None:
    """Ask the sidecar running on the data dir to shut down gracefully (exit 0 once it has)."""
    from .server import stop_owner

    folder = (data_dir or BY_NAME["data_dir"].from_env()).resolve()
    if not asyncio.run(stop_owner(folder)):
        typer.echo(f"the sidecar on {folder} did not stop", err=True)
        raise typer.Exit(1)


@app.command()
def doctor(
    data_dir: DataDir = None,
    rebuild_index: Annotated[
        bool, typer.Option("--rebuild-index", help="Rebuild the conversation list from the shards.")
    ] = False,
    as_json: Annotated[bool, typer.Option(JSON_FLAG, help="Print the report as JSON.")] = False,
    log_level: LogLevel = None,
) -> None:
    """Check a data dir and repair what can be repaired without losing anything.

    Replays the journal, rebuilds a missing or stale list index, reads every conversation file,
    and quarantines (never deletes) what cannot be read. Exit 0: healthy; 1: problems found;
    2: no store there (nothing is created) or bad input.
    """
    setup_logging(log_level)
    folder = _data_dir(data_dir, as_json)
    config = _resolve(as_json, data_dir=folder).store()
    if not Layout(folder).holds_store() and not is_owned(folder):
        _fail("not_found", f"chat-sidecar doctor: no store at {folder}", 2, as_json)
    try:
        report = asyncio.run(run_doctor(folder, config, rebuild_index=rebuild_index))
    except StoreLocked:
        _fail(
            "conflict",
            f"a running sidecar owns {folder}; stop it first (chat-sidecar stop)",
            1,
            as_json,
        )
    except StoreError as exc:
        _fail(exc.code, f"chat-sidecar doctor: {exc.message}", 2, as_json, exc.details)
    if as_json:
        typer.echo(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        for line in report.lines():
            typer.echo(line)
    raise typer.Exit(0 if report.healthy else 1)


async def _export(folder: Path, ids: list[str] | None, include_deleted: bool) -> dict[str, object]:
    """Read through the owner's REST API while a sidecar owns ``folder``, else open the store."""
    from .runtime import owner_handshake
    from .service.exporter import export_document, export_over_http
    from .store import Store
    from .store.lock import is_owned

    if await asyncio.to_thread(is_owned, folder):
        owner = await owner_handshake(folder)
        if owner is None:
            raise StoreLocked(f"a sidecar owns {folder} but does not answer")
        return await export_over_http(
            str(owner["url"]), str(owner["token"]), ids, include_deleted=include_deleted
        )
    store = await Store.open(folder, _resolve(data_dir=folder).store())
    try:
        return await export_document(store, ids, include_deleted=include_deleted)
    finally:
        await store.close()


@app.command()
def export(
    data_dir: DataDir = None,
    conversation: Annotated[
        list[str] | None,
        typer.Option("--conversation", help="A conversation to export (repeatable)."),
    ] = None,
    all_conversations: Annotated[
        bool, typer.Option("--all", help="Export every conversation (archived ones too).")
    ] = False,
    include_deleted: Annotated[
        bool, typer.Option("--include-deleted", help="With --all: the trash too.")
    ] = False,
    output_format: Annotated[
        str, typer.Option("--format", help="json (lossless, re-importable) or markdown.")
    ] = "json",
    output: Annotated[
        Path | None, typer.Option("--output", help="Write to this file (mode 0600), not stdout.")
    ] = None,
) -> None:
    """Export conversations: the lossless JSON format (docs/export-format.md) or Markdown.

    Works whether or not a sidecar runs on the data dir (then it reads through its API).
    Exit 0: exported; 1: nothing to export or the store cannot be read; 2: bad usage.
    """
    from .service.exporter import to_markdown
    from .store.durable import atomic_write

    if output_format not in ("json", "markdown"):
        raise typer.BadParameter("must be json or markdown", param_hint="--format")
    if bool(conversation) == all_conversations:
        raise typer.BadParameter("give --conversation ID (one or more) or --all")
    folder = (data_dir or BY_NAME["data_dir"].from_env()).resolve()
    if not folder.is_dir():
        typer.echo(f"chat-sidecar export: no data dir at {folder}", err=True)
        raise typer.Exit(1)
    try:
        document = asyncio.run(_export(folder, conversation or None, include_deleted))
    except StoreError as exc:
        typer.echo(f"chat-sidecar export: {exc.message}", err=True)
        raise typer.Exit(1) from None
    if output_format == "json":
        data = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    else:
        entries = document["conversations"]
        assert isinstance(entries, list)
        data = "\n".join(to_markdown(entry) for entry in entries).encode()
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        atomic_write(output.resolve(), data)
    except OSError as exc:
        typer.echo(f"chat-sidecar export: cannot write {output}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    """Run the command line. With ``--json`` among the arguments, a usage error (unknown option,
    bad value) is JSON on stdout too; otherwise Typer reports it as usual."""
    if JSON_FLAG not in sys.argv[1:]:
        app()
        return
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # Typer's usage errors (its own copy of click's)
        error = {"code": "bad_request", "message": exc.format_message(), "details": {}}
        sys.stdout.write(orjson.dumps({"error": error}).decode() + "\n")
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
