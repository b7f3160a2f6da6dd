"""A port probe picked that another process takes before the server binds it: the
server says so in its log and probe starts it again on another free port, instead of
calling the start a failure (a study once stopped on "gunicorn failed to start ...
exited with code 1", the likely cause two servers given one free port)."""

from __future__ import annotations

import socket

import pytest
import requests

from probe.servers import process
from probe.servers.process import Server
from probe.servers.spec import ServerSpec


@pytest.mark.parametrize("server", ["gunicorn", "flask"])
def test_a_taken_port_moves_the_server_to_another(server, monkeypatch, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    real = process.free_port
    given = iter([busy])
    monkeypatch.setattr(process, "free_port", lambda host="127.0.0.1": next(given, None)
                        or real(host))  # fmt: skip
    srv = Server(ServerSpec(server=server, limit_bytes=None))
    try:
        srv.start()
        assert srv.port != busy and srv.port_moves == 1
        assert requests.get(f"{srv.url}/health", timeout=10).status_code == 200
    finally:
        srv.close()
        taken.close()


def test_a_port_the_user_gave_is_not_moved():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    srv = Server(ServerSpec(server="gunicorn", port=taken.getsockname()[1]))
    try:
        with pytest.raises(process.ServerError, match="in use"):
            srv.start()
    finally:
        srv.close()
        taken.close()


def test_a_port_fixed_in_the_users_command_and_in_use_says_how_to_free_it():
    """`python -m http.server PORT`: --port 0 cannot help a command that names its own
    port, so the line says to stop what holds it or to write {port} in the command."""
    from probe.servers.spec import from_command

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    spec = from_command(f"python3 -m http.server --bind 127.0.0.1 {port}", port=port)
    srv = Server(spec)
    try:
        with pytest.raises(process.ServerError, match=r"write \{port\} in the command"):
            srv.start()
    finally:
        srv.close()
        taken.close()
