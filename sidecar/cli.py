"""``chat-sidecar``: the command line. Options come from :mod:`sidecar.settings`."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from .settings import BY_NAME
from .store import StoreConfig, StoreError, StoreLocked
from .store.doctor import run_doctor

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


def _setup_logging(level: str | None) -> None:
    chosen = (level or BY_NAME["log_level"].from_env()).upper()
    logging.basicConfig(
        level=getattr(logging, chosen, logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _store_config() -> StoreConfig:
    return StoreConfig(
        cache_size=BY_NAME["cache_size"].from_env(),
        checkpoint_bytes=BY_NAME["checkpoint_bytes"].from_env(),
        checkpoint_interval=BY_NAME["checkpoint_interval"].from_env(),
        storage=BY_NAME["storage"].from_env(),
    )


@app.command()
def serve(data_dir: DataDir = None, log_level: LogLevel = None) -> None:
    """Run the sidecar server (not built yet: the server issue adds it)."""
    _setup_logging(log_level)
    typer.echo("chat-sidecar serve: the server is not built yet (store only)", err=True)
    raise typer.Exit(2)


@app.command()
def doctor(
    data_dir: DataDir = None,
    rebuild_index: Annotated[
        bool, typer.Option("--rebuild-index", help="Rebuild the conversation list from the shards.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    log_level: LogLevel = None,
) -> None:
    """Check a data dir and repair what can be repaired without losing anything.

    Replays the journal, rebuilds a missing or stale list index, reads every conversation file,
    and quarantines (never deletes) what cannot be read. Exit 0: healthy; 1: problems found.
    """
    _setup_logging(log_level)
    folder = data_dir or BY_NAME["data_dir"].from_env()
    try:
        report = asyncio.run(run_doctor(folder, _store_config(), rebuild_index=rebuild_index))
    except StoreLocked:
        typer.echo(f"a running sidecar owns {folder}; stop it first (chat-sidecar stop)", err=True)
        raise typer.Exit(1) from None
    except StoreError as exc:
        typer.echo(f"chat-sidecar doctor: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        for line in report.lines():
            typer.echo(line)
    raise typer.Exit(0 if report.healthy else 1)


def main() -> None:
    app()
