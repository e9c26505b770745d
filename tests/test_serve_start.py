"""``chat-sidecar serve``'s own start: parsed from the settings table without Typer (which imports
pydantic), with Typer's values, help and errors (it still gets every command line the table's
parser does not take as-is)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import launch
from sidecar.cli import app
from sidecar.serving import parse_serve_args
from sidecar.settings import SETTINGS, ServerConfig

ROOT = Path(__file__).resolve().parents[1]
_SERVE = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]


def typer_parse(args: list[str]) -> tuple[dict[str, Any], bool] | str:
    """What Typer makes of ``serve ARGS``: the flags and ``--reload``, or its usage error."""
    try:
        context = _SERVE.make_context("serve", list(args))
    except Exception as exc:  # Typer's own copy of click's usage errors
        return type(exc).__name__
    params = dict(context.params)
    reload = bool(params.pop("reload"))
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in params.items()}, reload


def normalise(parsed: tuple[dict[str, Any], bool]) -> tuple[dict[str, str], bool]:
    """Comparable flags: an empty list is "not given", and ``repr`` so that nan equals nan."""
    flags, reload = parsed
    return {k: repr((v or None) if isinstance(v, list) else v) for k, v in flags.items()}, reload


def resolved(parsed: tuple[dict[str, Any], bool]) -> ServerConfig:
    """The config ``serve`` runs with, from parsed flags (``run_serve``'s own conversion)."""
    flags, _ = parsed
    given = {k: (tuple(v) or None) if isinstance(v, list) else v for k, v in flags.items()}
    return ServerConfig.resolve(**given)


FLAGS = [setting.flag for setting in SETTINGS] + ["--reload", "--help", "--nope", "--", "x"]
VALUES = ["5", " 7", "1_0", "-3", "2.5", "nan", "", "a,b", "on", "true", "/tmp/d", "--port",
          "\u0661\u0662", "1e3", "0x10", "+5", "1.0"]  # fmt: skip
tokens = st.one_of(
    st.sampled_from(FLAGS),
    st.sampled_from(VALUES),
    st.builds(lambda f, v: f"{f}={v}", st.sampled_from(FLAGS), st.sampled_from(VALUES)),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(tokens, max_size=6))
def test_the_table_parser_agrees_with_typer_or_leaves_the_line_to_it(args: list[str]) -> None:
    env = {
        name: value for name, value in os.environ.items() if not name.startswith("CHAT_SIDECAR_")
    }
    ours = parse_serve_args(args, env)
    if ours is None:
        return  # Typer gets the command line, so help and errors are its own
    with mock.patch.dict(os.environ, env, clear=True):  # Typer reads the same environment
        theirs = typer_parse(args)
    assert not isinstance(theirs, str), f"{args}: typer refuses it ({theirs}), we took it"
    assert normalise(ours) == normalise(theirs)


def test_ordinary_serve_lines_are_taken_by_the_table_parser() -> None:
    args = ["--data-dir", "/tmp/d", "--port=0", "--allow-remote", "--allow-origin", "a,b",
            "--allow-origin", "c", "--idle-timeout", "1.5", "--reload"]  # fmt: skip
    env = {"CHAT_SIDECAR_PROVIDER": "echo", "CHAT_SIDECAR_PORT": "9"}
    parsed = parse_serve_args(args, env)
    assert parsed is not None
    with mock.patch.dict(os.environ, env, clear=True):
        theirs = typer_parse(args)
        assert not isinstance(theirs, str)
        # Typer takes an environment value as the flag, we leave it to ``resolve``: same config.
        assert resolved(parsed) == resolved(theirs)
        assert resolved(parsed).provider == "echo" and resolved(parsed).port == 0


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--help"], {}),
        (["--port", "x"], {}),
        (["--no-allow-remote"], {}),
        (["--port", "\u0661\u0662"], {}),  # Arabic-Indic digits: int() reads them, Typer not
        ([], {"CHAT_SIDECAR_PORT": "x"}),  # Typer's error for a bad env value
        ([], {"CHAT_SIDECAR_ALLOW_REMOTE": "t"}),  # Typer's boolean words, not the table's
        ([], {"CHAT_SIDECAR_ALLOW_ORIGIN": "a b"}),  # Typer splits a list on spaces
    ],
)
def test_what_typer_reads_differently_is_left_to_typer(
    args: list[str], env: dict[str, str]
) -> None:
    assert parse_serve_args(args, env) is None


def _serve_imports_before_ready(tmp_path: Path, *options: str) -> list[str]:
    """The modules a real ``serve`` imported before its ready line (``-X importtime``, whose
    report goes to stderr before the ``chat UI:`` line ``serve`` writes right after it)."""
    err = tmp_path / "stderr.txt"
    env = {k: v for k, v in launch.child_env().items() if not k.startswith("CHAT_SIDECAR_")}
    command = [sys.executable, "-X", "importtime", "-m", "sidecar", "serve",
               "--data-dir", str(tmp_path / "data"), "--idle-timeout", "5", *options]  # fmt: skip
    with err.open("wb") as sink:
        process = launch.spawn(command, env=env, stderr=sink)
        try:
            launch.read_ready(process)
            deadline = time.monotonic() + 30
            while "chat UI:" not in err.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)  # written to stderr right after the ready line
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    text = err.read_text()
    assert "chat UI:" in text
    before = text.split("chat UI:")[0]
    return [
        line.split("|")[-1].strip()
        for line in before.splitlines()
        if line.startswith("import time:") and "|" in line
    ]


def test_serve_imports_neither_typer_nor_the_application_before_its_ready_line(
    tmp_path: Path,
) -> None:
    modules = _serve_imports_before_ready(tmp_path, "--port", "0", "--provider", "echo")
    assert "sidecar.server" in modules  # the report is there, and it is serve's
    framework = [m for m in modules if m.split(".")[0] in ("typer", "pydantic", "click", "rich")]
    assert framework == []
    application = ("sidecar.app", "sidecar.http", "sidecar.rpc", "sidecar.service", "sidecar.search",
                   "sidecar.providers", "sidecar.tools", "sidecar.api")  # fmt: skip
    assert [m for m in modules if m.startswith(application)] == []


def test_serve_refuses_a_bad_value_with_typers_error_and_exit_code(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve", "--data-dir", str(tmp_path), "--port", "x"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert "Invalid value for '--port'" in result.stderr


@pytest.mark.parametrize(
    ("options", "env"),
    [
        (["--allow-origin", "http://a.example,http://b.example"], {}),
        (["--allow-origin", "http://a.example", "--allow-origin", "http://b.example"], {}),
        ([], {"CHAT_SIDECAR_ALLOW_ORIGIN": "http://a.example,http://b.example"}),
        ([], {"CHAT_SIDECAR_ALLOW_ORIGIN": "http://a.example, http://b.example"}),
    ],
)
def test_allow_origin_is_comma_separated_however_it_is_given(
    tmp_path: Path, options: list[str], env: dict[str, str]
) -> None:
    """The help says comma-separated; a flag or variable read through Typer arrived as one
    origin "http://a.example,http://b.example", so neither was allowed."""
    import urllib.error
    import urllib.request

    server = launch.start(
        launch.serve_command(tmp_path / "data", "--port", "0", "--idle-timeout", "30", *options),
        env=launch.child_env(env, clean=True),
    )
    try:
        for origin, allowed in (("http://b.example", True), ("http://c.example", False)):
            request = urllib.request.Request(
                server.url + "/api/v1/conversations", headers={**server.headers, "Origin": origin}
            )
            try:
                with urllib.request.urlopen(request, timeout=20) as answer:
                    status = answer.status
            except urllib.error.HTTPError as refused:
                status = refused.code
            assert (status == 200) is allowed, (origin, status)
    finally:
        server.stop()
