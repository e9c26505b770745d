"""``chat-sidecar`` command line: doctor, settings, and the docs generated from the settings table."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

import orjson
import typer
from typer.testing import CliRunner

from sidecar.cli import app
from sidecar.settings import SETTINGS, ServerConfig, configuration_doc
from sidecar.store import Store
from sidecar.store.lock import DataDirLock

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _fill(data_dir: Path) -> None:
    async def fill() -> None:
        store = await Store.open(data_dir)
        for n in range(3):
            await store.create_conversation(id=f"c{n}", title=f"chat {n}")
            await store.append_message(f"c{n}", role="user", content="hello")
        await store.close()

    asyncio.run(fill())


def test_doctor_on_a_healthy_store(tmp_path: Path) -> None:
    _fill(tmp_path)
    result = runner.invoke(app, ["doctor", "--data-dir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["healthy"] and report["conversations"] == 3 and report["messages"] == 3


def test_doctor_reports_and_quarantines_damage(tmp_path: Path) -> None:
    _fill(tmp_path)
    chunk = tmp_path / "conversations" / "c1" / "messages-000000.json"
    chunk.write_bytes(chunk.read_bytes().replace(b"hello", b"jello"))
    result = runner.invoke(app, ["doctor", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "quarantined: c1" in result.stdout and "problems found" in result.stdout
    assert (tmp_path / "quarantine").is_dir()
    assert not (tmp_path / "conversations" / "c1").exists()


def test_doctor_rebuilds_the_index(tmp_path: Path) -> None:
    _fill(tmp_path)
    (tmp_path / "catalog.json").write_bytes(b"[]")
    result = runner.invoke(app, ["doctor", "--data-dir", str(tmp_path), "--rebuild-index"])
    assert result.exit_code == 0, result.output
    assert "rebuilt" in result.stdout and "conversations: 3" in result.stdout


def test_doctor_refuses_a_data_dir_in_use(tmp_path: Path) -> None:
    lock = DataDirLock(tmp_path)
    assert lock.try_acquire()
    try:
        result = runner.invoke(app, ["doctor", "--data-dir", str(tmp_path)])
    finally:
        lock.release()
    assert result.exit_code == 1 and "stop it first" in result.output


def test_settings_come_with_env_twins_and_reach_the_help(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--help"], env={"COLUMNS": "200"})
    assert "--data-dir" in result.stdout and "CHAT_SIDECAR_DATA_DIR" in result.stdout
    for setting in SETTINGS:
        assert setting.env == "CHAT_SIDECAR_" + setting.name.upper()


def test_data_dir_env_twin_is_honoured(tmp_path: Path) -> None:
    _fill(tmp_path)
    result = runner.invoke(app, ["doctor", "--json"], env={"CHAT_SIDECAR_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0 and orjson.loads(result.stdout)["conversations"] == 3


def test_configuration_doc_is_generated_from_the_settings_table() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == configuration_doc(), "run: python -m sidecar.settings > docs/configuration.md"


def test_server_config_has_a_field_per_setting_defaulting_to_the_table() -> None:
    config = ServerConfig(data_dir=Path("/nowhere"))
    fields = {field.name for field in dataclasses.fields(ServerConfig)}
    assert {setting.name for setting in SETTINGS} <= fields
    for setting in SETTINGS:
        if setting.name == "data_dir":
            continue  # no default in code: a config built there names its folder
        expected = setting.default() if callable(setting.default) else setting.default
        assert getattr(config, setting.name) == expected, setting.name
    assert config.device_name == socket.gethostname()


def test_serve_takes_every_setting_as_a_flag_with_its_env_twin_type_and_help() -> None:
    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    serve = command.commands["serve"]
    options = {param.name: param for param in serve.params}
    assert list(options) == [setting.name for setting in SETTINGS] + ["reload"]
    for setting in SETTINGS:
        option = options[setting.name]
        assert isinstance(option, typer.core.TyperOption)
        assert option.opts == [setting.flag] and option.envvar == setting.env
        assert option.help == setting.help and option.default is None
        assert option.multiple == (setting.cli_type == list[str]), setting.name
    help_text = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "400"}).stdout
    for setting in SETTINGS:
        assert setting.flag in help_text and setting.env in help_text


def test_a_value_outside_its_choices_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path), "--provider", "opnai"])
    assert result.exit_code == 2
    assert result.stdout == "", "no ready line"
    assert result.stderr.strip() == (
        "chat-sidecar: --provider (or CHAT_SIDECAR_PROVIDER) must be one of echo, openai, "
        "external, not 'opnai'"
    )
    assert not (tmp_path / "sidecar.json").exists()
    refused = runner.invoke(
        app, ["doctor", "--data-dir", str(tmp_path)], env={"CHAT_SIDECAR_STORAGE": "zip"}
    )
    assert refused.exit_code == 2 and "checksummed, plain" in refused.stderr


def test_a_discovery_file_without_url_or_token_reads_as_no_owner(tmp_path: Path) -> None:
    """Valid JSON saying ``ready`` but naming no url (or no token) is not an owner's handshake:
    every reader of it (status, export, chat-migrate, the launcher, a starting serve) goes on as
    if none ran, instead of a KeyError traceback."""
    for partial in ({"event": "ready", "pid": 1}, {"event": "ready", "url": "http://x", "pid": 1}):
        (tmp_path / "sidecar.json").write_bytes(orjson.dumps(partial))
        result = runner.invoke(app, ["status", "--data-dir", str(tmp_path)])
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "no sidecar is running" in result.stderr
