"""The login log line: protocol, peer, mechanism, user, outcome; never a password."""

from __future__ import annotations

import logging

import pytest

from mailward.auth.log import log_login, login_message
from mailward.auth.sasl import Failure, FailureReason, Plain, Success


def test_success_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "mailward.auth"):
        log_login(protocol="imap", peer="192.0.2.1:5000", mechanism="PLAIN", username="alice",
                  outcome=Success("alice", "alice"), tls=True)
    assert caplog.records[0].levelno == logging.INFO
    assert caplog.records[0].getMessage() == (
        'login ok protocol=imap peer=192.0.2.1:5000 mechanism=PLAIN tls=yes user="alice"'
    )


def test_failure_line_never_has_the_password(caplog: pytest.LogCaptureFixture) -> None:
    mech = Plain()
    mech.start(b"\x00alice\x00hunter2")
    outcome = mech.verified(False)
    assert isinstance(outcome, Failure)
    with caplog.at_level(logging.INFO, "mailward.auth"):
        log_login(protocol="smtp", peer="[2001:db8::1]:25", mechanism="PLAIN", username="alice",
                  outcome=outcome)
    record = caplog.records[0]
    assert record.levelno == logging.WARNING
    assert "hunter2" not in record.getMessage()
    assert "reason=bad-credentials" in record.getMessage()


def test_user_names_cannot_forge_lines() -> None:
    line = login_message(protocol="pop3", peer="p", mechanism="LOGIN", username='x"\nlogin ok user="root',
                         outcome=Failure(FailureReason.MALFORMED))
    assert "\n" not in line
    assert 'user="x\\x22\\x0alogin ok user=\\x22root"' in line
    assert login_message(protocol="pop3", peer="p", mechanism="LOGIN", username=None,
                         outcome=Failure(FailureReason.THROTTLED)).endswith("user=- reason=throttled")
    long = login_message(protocol="pop3", peer="p", mechanism="LOGIN", username="a" * 1000,
                         outcome=Failure(FailureReason.BAD_CREDENTIALS))
    assert len(long) < 400


def test_authzid_is_shown() -> None:
    line = login_message(protocol="imap", peer="p", mechanism="PLAIN", username="alice",
                         outcome=Success("alice", "shared"))
    assert line.endswith('user="alice" as="shared"')
