"""pygls is pinned to a minor version because ``sidecar/rpc/engine.py`` overrides and calls its
private methods. When an upgrade renames one or changes its parameters, this fails naming it,
instead of the engine silently falling back to pygls's own behaviour (tracebacks and chat text in
error answers and logs)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from pygls.protocol import JsonRPCProtocol
from pygls.server import JsonRPCServer

from sidecar.rpc.engine import RpcProtocol, RpcServer

#: (class, method, the parameters (after self) our override or call relies on)
RELIED_ON: list[tuple[type[Any], str, tuple[str, ...]]] = [
    (JsonRPCProtocol, "_send_response", ("msg_id", "result", "error")),
    (JsonRPCProtocol, "_send_data", ("data",)),
    (JsonRPCProtocol, "get_message_type", ("method",)),
    (JsonRPCProtocol, "structure_message", ("data",)),
    (JsonRPCProtocol, "handle_message", ("message",)),
    (JsonRPCProtocol, "set_writer", ("writer", "include_headers")),
    (JsonRPCProtocol, "notify", ("method", "params")),
    (JsonRPCServer, "report_server_error", ("error", "source")),
    (JsonRPCServer, "__init__", ("protocol_cls", "converter_factory")),
]


def _parameters(function: Callable[..., Any]) -> tuple[str, ...]:
    return tuple(name for name in inspect.signature(function).parameters if name != "self")


@pytest.mark.parametrize(("owner", "name", "expected"), RELIED_ON, ids=lambda v: str(v))
def test_pygls_still_has_the_private_methods_we_override(
    owner: type[Any], name: str, expected: tuple[str, ...]
) -> None:
    function = owner.__dict__.get(name)
    assert function is not None, (
        f"pygls {owner.__name__}.{name} is gone: sidecar/rpc/engine.py overrides or calls it;"
        " re-check the engine against the new pygls before moving the pin in pyproject.toml"
    )
    got = _parameters(function)
    assert got[: len(expected)] == expected, (
        f"pygls {owner.__name__}.{name} now takes {got}, the engine relies on {expected}:"
        " re-check sidecar/rpc/engine.py before moving the pin in pyproject.toml"
    )


def test_our_overrides_match_the_base_signatures() -> None:
    for name in ("_send_response", "_send_data", "get_message_type"):
        ours = _parameters(RpcProtocol.__dict__[name])
        base = _parameters(JsonRPCProtocol.__dict__[name])
        assert ours == base, f"RpcProtocol.{name} takes {ours}, pygls's takes {base}"


def test_the_protocol_attributes_the_engine_uses_exist() -> None:
    protocol = RpcServer().protocol
    for attribute in ("_converter", "writer", "fm", "VERSION"):
        assert hasattr(protocol, attribute), (
            f"pygls protocols no longer have {attribute!r}, which sidecar/rpc/engine.py uses"
        )
