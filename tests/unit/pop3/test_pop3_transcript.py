"""The POP3 transcript hides passwords, SASL data and anything that is not a command."""

from __future__ import annotations

from mailward.server.pop3.transcript import client_lines, server_lines


def test_commands_shown_credentials_hidden() -> None:
    data = b"USER alice\r\nPASS hunter2\r\nSTAT\r\nRETR 1\r\nAPOP a 0123\r\n"
    assert client_lines(data) == ["C: USER alice", "C: PASS ***", "C: STAT", "C: RETR 1", "C: APOP ***"]


def test_auth_keeps_its_mechanism_only() -> None:
    assert client_lines(b"AUTH PLAIN AGFsaWNlAGh1bnRlcjI=\r\n") == ["C: AUTH PLAIN ***"]
    assert client_lines(b"AUTH PLAIN\r\nAGFsaWNlAGh1bnRlcjI=\r\n") == [
        "C: AUTH PLAIN", "C: [22 octets not shown]"]
    assert client_lines(b"AGFsaWNlAGh1bnRlcjI=\r\n", in_auth=True) == ["C: [22 octets of AUTH data]"]


def test_noise_is_counted_not_shown() -> None:
    assert client_lines(b"hunter2\r\nxyzzy\n") == ["C: [15 octets not shown]"]


def test_server_challenges_hidden() -> None:
    assert server_lines(b"+ cj1hYmM=\r\n+OK 3 120\r\n") == ["S: + [challenge]", "S: +OK 3 120"]
