"""Submission with the mail programs admins run, each with the server's default settings:
Debian's mutt (Cyrus SASL), msmtp (GNU SASL), swaks and Python's smtplib. Whatever
mechanisms the server advertises by default, every one of them must log in."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.parse

import pytest

from .conftest import PASSWORDS, SmtpEnv

ALICE = "alice@example.org"
TIMEOUT = 60


def _need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.fail(f"{program} is not installed: `make test` installs it (Makefile DEBS)")


def _delivered(env: SmtpEnv, marker: bytes) -> None:
    [stored] = env.inbox("bob@example.org")
    assert marker in stored
    assert f"(authenticated as {ALICE})".encode() in stored


def test_mutt_sends_through_submission(env: SmtpEnv) -> None:
    _need("mutt")
    home = env.tmp / "mutt-home"
    home.mkdir()
    user = urllib.parse.quote(ALICE, safe="")
    muttrc = home / "muttrc"
    muttrc.write_text(
        f'set smtp_url = "smtp://{user}@127.0.0.1:{env.port("submission")}/"\n'
        f'set smtp_pass = "{PASSWORDS[ALICE]}"\n'
        "set ssl_starttls = yes\nset ssl_force_tls = yes\n"
        f'set certificate_file = "{env.ca.cert_path}"\n'
        f'set ssl_ca_certificates_file = "{env.ca.cert_path}"\n'
        f'set from = "{ALICE}"\nset use_from = yes\nset hostname = "client.example"\n'
        'set record = ""\nset copy = no\nset sendmail_wait = 0\n'
        f'set tmpdir = "{home}"\nset header_cache = ""\n'
    )
    result = subprocess.run(
        ["mutt", "-n", "-F", str(muttrc), "-s", "via mutt", "bob@example.org"],
        input="sent by mutt\n", capture_output=True, text=True, timeout=TIMEOUT, check=False,
        env={**os.environ, "HOME": str(home), "TERM": "dumb"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    _delivered(env, b"sent by mutt")
    env.wait_for_log(r"login ok protocol=smtp .*user=\"alice@example\.org\"")


def test_msmtp_sends_through_submission(env: SmtpEnv) -> None:
    _need("msmtp")
    password_file = env.tmp / "msmtp-password"
    password_file.write_text(PASSWORDS[ALICE])
    result = subprocess.run(
        ["msmtp", "--host=127.0.0.1", f"--port={env.port('submission')}", "--tls=on", "--tls-starttls=on",
         f"--tls-trust-file={env.ca.cert_path}", "--auth=on", f"--user={ALICE}",
         f"--passwordeval=cat {password_file}", f"--from={ALICE}", "--domain=client.example",
         "bob@example.org"],
        input=f"From: {ALICE}\nSubject: via msmtp\n\nsent by msmtp\n", capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    _delivered(env, b"sent by msmtp")


def test_swaks_with_its_own_choice_of_mechanism(env: SmtpEnv) -> None:
    result = env.swaks(
        "--tls", "--auth-user", ALICE, "--auth-password", PASSWORDS[ALICE],
        "--from", ALICE, "--to", "bob@example.org", "--body", "sent by swaks", listener="submission",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    _delivered(env, b"sent by swaks")


def test_smtplib_login_with_its_own_choice_of_mechanism(env: SmtpEnv) -> None:
    with env.smtp("submission") as client:
        client.starttls(context=env.tls_context())
        client.login(ALICE, PASSWORDS[ALICE])
        client.sendmail(ALICE, ["bob@example.org"], f"From: {ALICE}\r\n\r\nsent by smtplib\r\n")
    _delivered(env, b"sent by smtplib")
