"""AUTH on submission: every mechanism with a real client, and the refusals that keep it safe."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import smtplib
import time

import pytest
from scramp import ScramClient

from mailward.auth.channel_binding import tls_exporter

from .conftest import PASSWORDS, SmtpEnv

ALICE = "alice@example.org"
BODY = b"From: alice@example.org\r\nSubject: sent\r\n\r\nfrom Alice\r\n"


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def unb64(data: bytes) -> bytes:
    return base64.b64decode(data)


def submission(env: SmtpEnv) -> smtplib.SMTP:
    client = env.smtp("submission")
    client.starttls(context=env.tls_context())
    client.ehlo()
    return client


def mechanisms(client: smtplib.SMTP) -> list[str]:
    return client.esmtp_features.get("auth", "").split()


def send_and_check(env: SmtpEnv, client: smtplib.SMTP, user: str = ALICE) -> None:
    assert client.sendmail(user, ["bob@example.org"], BODY) == {}
    [stored] = env.inbox("bob@example.org")
    assert f"(authenticated as {user})".encode() in stored


def test_plain_with_smtplib(env: SmtpEnv) -> None:
    with submission(env) as client:
        # -PLUS is accepted but not listed by default (scram_plus = "on-request"): mutt gives up on it
        assert mechanisms(client) == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
        client.user, client.password = ALICE, PASSWORDS[ALICE]
        assert client.auth("PLAIN", client.auth_plain) == (235, b"2.7.0 Authentication successful")
        assert b"AUTH" not in client.ehlo()[1]  # not offered again once logged in
        send_and_check(env, client)
    env.wait_for_log(r"login ok protocol=smtp peer=127\.0\.0\.1 mechanism=PLAIN tls=yes user=\"alice@example\.org\"")


def test_plain_authzid_naming_the_user_in_upper_case(env: SmtpEnv) -> None:
    with submission(env) as client:
        message = f"{ALICE.upper()}\0{ALICE}\0{PASSWORDS[ALICE]}"
        assert client.docmd("AUTH", "PLAIN " + b64(message)) == (235, b"2.7.0 Authentication successful")
        send_and_check(env, client)


def test_login_with_swaks(env: SmtpEnv) -> None:
    result = env.swaks(
        "--tls", "-a", "LOGIN", "--auth-user", ALICE, "--auth-password", PASSWORDS[ALICE],
        "--from", ALICE, "--to", "bob@example.org", "--body", "via swaks", listener="submission",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<~  235 2.7.0 Authentication successful" in result.stdout
    assert len(env.inbox("bob@example.org")) == 1


def test_wrong_password(env: SmtpEnv) -> None:
    with submission(env) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
            client.login(ALICE, "not-the-password")
        assert (caught.value.smtp_code, caught.value.smtp_error) == (535, b"5.7.8 Authentication credentials invalid")
        assert client.mail(ALICE) == (530, b"5.7.0 Authentication required")
    env.wait_for_log(r"login failed protocol=smtp .* mechanism=PLAIN .*reason=bad-credentials")
    assert "not-the-password" not in env.records.text()


def test_scram_sha_256_with_scramp(env: SmtpEnv) -> None:
    with submission(env) as client:
        scram = ScramClient(["SCRAM-SHA-256"], ALICE, PASSWORDS[ALICE])
        code, challenge = client.docmd("AUTH", "SCRAM-SHA-256 " + b64(scram.get_client_first()))
        assert code == 334
        scram.set_server_first(unb64(challenge).decode())
        code, challenge = client.docmd(b64(scram.get_client_final()))
        assert code == 334  # RFC 4954 4: the server-final message as a last challenge
        scram.set_server_final(unb64(challenge).decode())  # scramp checks the ServerSignature
        assert client.docmd("") == (235, b"2.7.0 Authentication successful")
        send_and_check(env, client)


def test_a_bad_response_ends_the_exchange_for_good(env: SmtpEnv) -> None:
    """A 501 for undecodable data ends the AUTH command (RFC 4954 4): a SCRAM exchange
    that had reached its last challenge must not let a later AUTH succeed without
    credentials."""
    with submission(env) as client:
        scram = ScramClient(["SCRAM-SHA-256"], ALICE, PASSWORDS[ALICE])
        code, challenge = client.docmd("AUTH", "SCRAM-SHA-256 " + b64(scram.get_client_first()))
        assert code == 334
        scram.set_server_first(unb64(challenge).decode())
        assert client.docmd(b64(scram.get_client_final()))[0] == 334  # the server-final message
        assert client.docmd("!!!") == (501, b"5.5.2 Cannot decode the response (base64)")
        assert client.docmd("AUTH", "LOGIN")[0] == 334
        # the old exchange's success answered this empty line with 235; now it is LOGIN's
        assert client.docmd("") == (501, b"5.5.2 Malformed authentication exchange")
        assert client.docmd("MAIL", "FROM:<alice@example.org>") == (530, b"5.7.0 Authentication required")


def scram_plus_login(client: smtplib.SMTP, user: str, password: str, binding: bytes) -> tuple[int, bytes]:
    """A SCRAM-SHA-256-PLUS client (RFC 5802, RFC 9266 tls-exporter), written out here: no
    library at hand supports tls-exporter."""
    gs2 = b"p=tls-exporter,,"
    nonce = secrets.token_urlsafe(18)
    first_bare = f"n={user},r={nonce}"
    code, challenge = client.docmd("AUTH", "SCRAM-SHA-256-PLUS " + b64(gs2 + first_bare.encode()))
    assert code == 334, challenge
    server_first = unb64(challenge).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    assert fields["r"].startswith(nonce)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    final_bare = f"c={b64(gs2 + binding)},r={fields['r']}"
    auth_message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    code, challenge = client.docmd(b64(f"{final_bare},p={b64(proof)}"))
    if code != 334:
        return code, challenge
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    expected = b64(hmac.digest(server_key, auth_message, "sha256"))
    assert unb64(challenge).decode() == f"v={expected}"  # the server knew the key too
    return client.docmd("")


def test_scram_sha_256_plus_with_tls_exporter(env: SmtpEnv) -> None:
    with submission(env) as client:
        sock = client.sock
        binding = tls_exporter(sock)  # type: ignore[arg-type]
        assert binding is not None and len(binding) == 32
        assert scram_plus_login(client, ALICE, PASSWORDS[ALICE], binding) == (
            235, b"2.7.0 Authentication successful"
        )
        send_and_check(env, client)


def test_scram_plus_refuses_another_connections_binding(env: SmtpEnv) -> None:
    """A man in the middle relays the exchange but has a TLS session of its own."""
    with submission(env) as client:
        code, text = scram_plus_login(client, ALICE, PASSWORDS[ALICE], b"\x00" * 32)
        assert (code, text) == (535, b"5.7.8 Authentication credentials invalid")


def test_external_with_a_registered_client_certificate(env: SmtpEnv) -> None:
    with env.smtps(client_cert=env.client_cert) as client:
        client.ehlo()
        assert mechanisms(client) == ["SCRAM-SHA-256", "EXTERNAL", "PLAIN", "LOGIN"]
        assert client.docmd("AUTH", "EXTERNAL =") == (235, b"2.7.0 Authentication successful")
        send_and_check(env, client)


def test_external_after_starttls_with_a_registered_client_certificate(env: SmtpEnv) -> None:
    with env.smtp("submission") as client:
        client.starttls(context=env.tls_context(client_cert=env.client_cert))
        client.ehlo()
        assert "EXTERNAL" in mechanisms(client)
        assert client.docmd("AUTH", "EXTERNAL =") == (235, b"2.7.0 Authentication successful")


def test_external_is_not_offered_for_a_certificate_that_verifies_but_is_not_registered(
    env: SmtpEnv,
) -> None:
    with env.smtps(client_cert=env.stranger_cert) as client:
        client.ehlo()
        assert mechanisms(client) == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
        assert client.docmd("AUTH", "EXTERNAL =")[0] == 504
    with env.smtp("submission") as client:
        client.starttls(context=env.tls_context(client_cert=env.stranger_cert))
        client.ehlo()
        assert "EXTERNAL" not in mechanisms(client)
    with env.smtps() as client:  # no certificate: not offered, not accepted
        client.ehlo()
        assert "EXTERNAL" not in mechanisms(client)
        assert client.docmd("AUTH", "EXTERNAL =")[0] == 504


def test_no_auth_before_tls(env: SmtpEnv) -> None:
    # TLS offered but not required: AUTH is not advertised, and refused with 538 (RFC 4954 6)
    with env.smtp("open-submission") as client:
        client.ehlo()
        assert not client.has_extn("auth")
        creds = b64(f"\0{ALICE}\0{PASSWORDS[ALICE]}")
        assert client.docmd("AUTH", "PLAIN " + creds) == (
            538, b"5.7.11 Encryption required for requested authentication mechanism"
        )
        assert client.docmd("AUTH", "SCRAM-SHA-256")[0] == 538  # SCRAM too: see auth.sasl.policy
        assert client.mail(ALICE) == (530, b"5.7.0 Authentication required")
    # starttls-required: nothing but STARTTLS first
    with env.smtp("submission") as client:
        client.ehlo()
        assert not client.has_extn("auth")
        assert client.docmd("AUTH", "PLAIN " + creds) == (530, b"5.7.0 Must issue a STARTTLS command first")
        assert client.mail(ALICE) == (530, b"5.7.0 Must issue a STARTTLS command first")
    # and the mx listener offers no AUTH at all, even over TLS
    with env.smtp("mx") as client:
        client.starttls(context=env.tls_context())
        client.ehlo()
        assert not client.has_extn("auth")
        assert client.docmd("AUTH", "PLAIN " + creds)[0] == 502


def test_submission_sender_must_be_owned(env: SmtpEnv) -> None:
    with submission(env) as client:
        client.login(ALICE, PASSWORDS[ALICE])
        assert client.mail("bob@example.org") == (553, b"5.7.1 Sender address not owned by the authenticated user")
        assert client.mail("someone@remote.example")[0] == 553
        assert client.mail("<@a.example:bob@example.org>")[0] == 553  # a source route changes nothing
        assert client.mail("sales@example.org") == (250, b"2.1.0 Sender OK")  # an alias reaching alice
        client.rset()
        assert client.mail("Alice@EXAMPLE.org") == (250, b"2.1.0 Sender OK")


def test_submission_takes_the_null_sender_from_an_authenticated_user(env: SmtpEnv) -> None:
    # read receipts and delivery reports go out with MAIL FROM:<> (RFC 8098 3, RFC 3464)
    with submission(env) as client:
        assert client.mail("") == (530, b"5.7.0 Authentication required")
        client.login(ALICE, PASSWORDS[ALICE])
        assert client.mail("") == (250, b"2.1.0 Sender OK")
        assert client.rcpt("bob@example.org")[0] == 250
        assert client.data(BODY)[0] == 250
    (stored,) = env.inbox("bob@example.org")
    assert stored.startswith(b"Return-Path: <>\r\n")
    assert b"(authenticated as alice@example.org)" in stored and b"with ESMTPSA" in stored


def test_submission_to_remote_is_not_available_yet(env: SmtpEnv) -> None:
    with submission(env) as client:
        client.login(ALICE, PASSWORDS[ALICE])
        client.mail(ALICE)
        code, text = client.rcpt("friend@remote.example")
        assert (code, text) == (451, b"4.3.0 Relay to other servers is not available yet, try again later")
        assert client.rcpt("bob@example.org")[0] == 250  # local recipients still work
        assert client.data(BODY)[0] == 250
    assert env.queued() == 0
    assert len(env.inbox("bob@example.org")) == 1


def test_utf8_user_logs_in_and_sends(env: SmtpEnv) -> None:
    user = "δοκιμή@example.org"
    with submission(env) as client:
        # smtplib's own AUTH PLAIN encodes as ASCII
        assert client.docmd("AUTH", "PLAIN " + b64(f"\0{user}\0{PASSWORDS[user]}"))[0] == 235
        assert client.sendmail(user, ["alice@example.org"], BODY, mail_options=["SMTPUTF8"]) == {}
    [stored] = env.inbox("alice@example.org")
    assert "Return-Path: <δοκιμή@example.org>".encode() in stored
    assert b" with UTF8SMTPSA (TLS1.3 " in stored


def attempt(env: SmtpEnv, password: str, source: str = "127.0.0.1") -> int:
    """One AUTH PLAIN for alice on a fresh submission connection from ``source``."""
    port = env.port("submission")
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=10,
                      source_address=(source, 0)) as client:
        client.starttls(context=env.tls_context())
        client.ehlo()
        return client.docmd("AUTH", "PLAIN " + b64(f"\0{ALICE}\0{password}"))[0]


def test_reloaded_login_limits_apply_to_the_next_attempt(env: SmtpEnv) -> None:
    # loopback is not on the default allowlist: its failures count like any others
    assert [attempt(env, "wrong"), attempt(env, "wrong")] == [535, 535]
    report = env.reload("[auth]\nip_block_after = 3\ndelay_after = 100\n")
    assert "auth" in report.applied and report.needs_restart == ()
    # the third failure blocks the address: even the right password is refused now
    assert [attempt(env, "wrong"), attempt(env, PASSWORDS[ALICE])] == [535, 454]
    env.reload('[auth]\nallowlist = ["127.0.0.1/32"]\n')  # a webmail host the admin trusts
    assert attempt(env, PASSWORDS[ALICE]) == 235


def test_guesses_from_elsewhere_do_not_keep_the_owner_out(env: SmtpEnv) -> None:
    env.reload("[auth]\ndelay_after = 100\naccount_block_after = 5\nclean_address_max_wait = 0.5\n")
    assert attempt(env, PASSWORDS[ALICE], source="127.0.0.1") == 235  # the owner's usual address
    assert [attempt(env, "guess", source="127.0.0.2") for _ in range(5)] == [535] * 5
    started = time.monotonic()
    assert attempt(env, PASSWORDS[ALICE], source="127.0.0.1") == 235  # known: not held back
    assert time.monotonic() - started < 2
    # an address with no failures of its own (the owner on a new network): checked after
    # clean_address_max_wait, in spite of the account's block
    started = time.monotonic()
    assert attempt(env, PASSWORDS[ALICE], source="127.0.0.3") == 235
    assert time.monotonic() - started >= 0.5
    # a guesser's address, even with the right password: the account block
    assert attempt(env, PASSWORDS[ALICE], source="127.0.0.2") == 454
    env.wait_for_log(r"login failed protocol=smtp peer=127\.0\.0\.2 .*reason=throttled")
    env.wait_for_log(r"user:alice@example\.org blocked until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
