"""Never an open relay: every way of asking mx to send mail elsewhere is refused, nothing queued."""

from __future__ import annotations

import pytest

from .conftest import PASSWORDS, SmtpEnv

RELAY_DENIED = "554 5.7.1 Relay access denied"
ROUTING = "550 5.7.1 Routing addresses (% or ! in the local part) are not accepted"

ATTEMPTS = [
    ("<victim@remote.example>", RELAY_DENIED),
    ("<victim@REMOTE.example>", RELAY_DENIED),
    ("<@mx.example.org:victim@remote.example>", RELAY_DENIED),  # source route: the mailbox counts
    ("<@example.org,@mx.example.org:victim@remote.example>", RELAY_DENIED),
    ("<victim%remote.example@example.org>", ROUTING),  # percent hack
    ("<remote.example!victim@example.org>", ROUTING),  # bang path
    ('<"victim@remote.example"@example.org>', ROUTING),  # quoted local part
    ("<victim@[192.0.2.1]>", RELAY_DENIED),  # address literal
    ("<victim@[127.0.0.1]>", RELAY_DENIED),
    ("<victim@example.org.remote.example>", RELAY_DENIED),
    ("<victim@mx.example.org>", RELAY_DENIED),  # the host name is not a mail domain here
]


@pytest.mark.parametrize(("path", "expected"), ATTEMPTS, ids=[a[0] for a in ATTEMPTS])
def test_mx_refuses_relay(env: SmtpEnv, path: str, expected: str) -> None:
    with env.raw() as raw:
        raw.reply()
        raw.command("EHLO attacker.example")
        assert raw.command("MAIL FROM:<spammer@remote.example>") == "250 2.1.0 Sender OK"
        assert raw.command(f"RCPT TO:{path}") == expected
        assert raw.command("DATA") == "503 5.5.1 Send RCPT first"
    assert env.queued() == 0
    assert env.total_messages() == 0


def test_mx_refuses_relay_after_starttls_and_with_swaks(env: SmtpEnv) -> None:
    result = env.swaks("--tls", "--from", "spammer@remote.example", "--to", "victim@remote.example")
    assert result.returncode != 0
    assert f"<~* {RELAY_DENIED}" in result.stdout  # swaks: "~" over TLS, "*" an error
    assert env.queued() == 0


def test_mx_refuses_relay_even_to_someone_who_tries_auth(env: SmtpEnv) -> None:
    """mx offers no AUTH: credentials of a real user change nothing there."""
    result = env.swaks("--tls", "-a", "PLAIN", "--auth-user", "alice@example.org",
                       "--auth-password", PASSWORDS["alice@example.org"],
                       "--from", "alice@example.org", "--to", "victim@remote.example")
    assert result.returncode != 0
    assert "*** Host did not advertise authentication" in result.stderr
    assert "RCPT TO" not in result.stdout
    with env.raw() as raw:
        raw.reply()
        raw.command("EHLO attacker.example")
        assert raw.command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlLXNlY3JldC0x") == "502 5.5.1 Command not implemented"
        raw.command("MAIL FROM:<alice@example.org>")
        assert raw.command("RCPT TO:<victim@remote.example>") == RELAY_DENIED
    assert env.queued() == 0
    assert env.total_messages() == 0


def test_authenticated_submission_never_relays_silently(env: SmtpEnv) -> None:
    """Until the outbound relay exists: 451 for any non-local form, and nothing queued or dropped."""
    with env.smtp("submission") as client:
        client.starttls(context=env.tls_context())
        client.login("alice@example.org", PASSWORDS["alice@example.org"])
        client.mail("alice@example.org")
        for path in ("victim@remote.example", "@example.org:victim@remote.example"):
            code, _ = client.docmd("RCPT", f"TO:<{path}>")
            assert code == 451, path
        assert client.docmd("RCPT", "TO:<victim%remote.example@example.org>")[0] == 550
        assert client.docmd("DATA") == (503, b"5.5.1 Send RCPT first")
    assert env.queued() == 0
    assert env.total_messages() == 0
