"""The SMTP core fed whole, byte by byte and split at every offset; exact replies."""

from __future__ import annotations

import dataclasses

from mailward.protocols.smtp.core import Facts, Limits
from support.smtp_driver import FACTS, Result, run, run_all_splits

EHLO_PLAIN = [
    "220 mx.example.org ESMTP mailward",
    "250-mx.example.org",
    "250-PIPELINING",
    "250-SIZE 52428800",
    "250-8BITMIME",
    "250-SMTPUTF8",
    "250-ENHANCEDSTATUSCODES",
    "250-CHUNKING",
    "250 STARTTLS",
]


def test_ehlo_advertises_extensions() -> None:
    assert run_all_splits(b"EHLO client.example\r\n").lines == EHLO_PLAIN


def test_ehlo_with_tls_and_auth() -> None:
    facts = Facts("mx.example.org", tls_active=True, tls_available=True, auth_mechanisms=("PLAIN", "LOGIN"))
    lines = run([b"EHLO c\r\n"], facts=facts).lines
    assert "250-STARTTLS" not in lines and "250 STARTTLS" not in lines
    assert lines[-1] == "250 AUTH PLAIN LOGIN"


def test_helo_is_short() -> None:
    assert run_all_splits(b"HELO client.example\r\n").lines[1:] == ["250 mx.example.org"]


def test_transaction_with_dot_stuffing() -> None:
    script = (
        b"EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
        b"Subject: hi\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n"
    )
    result = run_all_splits(script)
    assert result.lines[len(EHLO_PLAIN) :] == [
        "250 2.1.0 Sender OK",
        "250 2.1.5 Recipient OK",
        "354 End data with <CR><LF>.<CR><LF>",
        "250 2.0.0 Message accepted",
        "221 2.0.0 Bye",
    ]
    assert result.message == b"Subject: hi\r\n\r\n.leading dot\r\n"
    assert result.kinds() == ["Hello", "MailFrom", "RcptTo", "DataChunk", "MessageComplete", "Close"]


def test_dot_line_needs_crlf_before_it() -> None:
    result = run_all_splits(b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n.x\r\n.\r\n")
    assert result.message == b"x\r\n"
    assert result.lines[-1] == "250 2.0.0 Message accepted"


def test_long_line_in_data_is_streamed() -> None:
    long = b"x" * 200_000
    result = run([b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n" + long + b"\r\n.\r\n"])
    assert result.message == long + b"\r\n"


def smuggle(body: bytes) -> Result:
    return run_all_splits(b"EHLO c\r\nMAIL FROM:<a@r.example>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n" + body)


def test_smuggling_forms_end_the_session() -> None:
    for form in (b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\r.\n"):
        body = (
            b"hello" + form + b"MAIL FROM:<evil@r.example>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nx\r\n.\r\n"
        )
        result = smuggle(body)
        assert result.lines[-1] == (
            "521 5.5.2 Bare CR or LF in message data; lines must end with CRLF. Closing the connection"
        ), form
        assert "MessageComplete" not in result.kinds(), form
        assert result.kinds()[-2:] == ["Reset", "Close"], form


def test_bare_lf_line_is_refused_in_commands() -> None:
    assert run_all_splits(b"NOOP\nNOOP\r\n").lines[1:] == [
        "500 5.5.2 Bare CR or LF in command; lines end with CRLF"
    ]


def test_sequence_errors() -> None:
    script = b"MAIL FROM:<a@b.example>\r\nEHLO c\r\nRCPT TO:<b@example.org>\r\nDATA\r\nMAIL FROM:<a@b.example>\r\nDATA\r\nMAIL FROM:<a@b.example>\r\n"
    lines = run_all_splits(script).lines
    assert lines[1] == "503 5.5.1 Send EHLO or HELO first"
    assert lines[len(EHLO_PLAIN) + 1 :] == [
        "503 5.5.1 Send MAIL first",
        "503 5.5.1 Send MAIL first",
        "250 2.1.0 Sender OK",
        "503 5.5.1 Send RCPT first",
        "503 5.5.1 Sender already specified",
    ]
    assert run([b"MAIL FROM:<a@b.example>\r\n"]).lines[1] == "503 5.5.1 Send EHLO or HELO first"


def test_simple_commands() -> None:
    script = b"NOOP\r\nHELP\r\nVRFY someone\r\nEXPN list\r\nRSET\r\nFOO\r\nQUIT\r\n"
    assert run_all_splits(script).lines[1:] == [
        "250 2.0.0 OK",
        "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
        "252 2.5.2 Cannot VRFY user, but will accept the message and attempt delivery",
        "502 5.5.1 Command not implemented",
        "250 2.0.0 Reset",
        "500 5.5.1 Command unrecognized",
        "221 2.0.0 Bye",
    ]


def test_commands_are_case_insensitive() -> None:
    result = run_all_splits(b"ehlo c\r\nmail from:<a@r.example>\r\nrcpt to:<b@example.org>\r\n")
    assert result.lines[-2:] == ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK"]


def test_address_syntax() -> None:
    script = (
        b"EHLO c\r\nMAIL FROM:a@b.example\r\nMAIL FROM:<a@@b>\r\nMAIL FROM: <a@r.example>\r\n"
        b"RCPT TO:<>\r\nRCPT TO:<@relay.example,@other.example:b@example.org>\r\n"
        b'RCPT TO:<"quoted local"@example.org>\r\nRCPT TO:<b@example.org> NOTIFY=NEVER\r\n'
    )
    result = run_all_splits(script)
    assert result.lines[len(EHLO_PLAIN) :] == [
        "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]",
        "501 5.1.7 Bad sender address syntax",
        "250 2.1.0 Sender OK",
        "501 5.1.3 Bad address syntax",
        "250 2.1.5 Recipient OK",
        "250 2.1.5 Recipient OK",
        "555 5.5.4 Parameter not recognized or not implemented",
    ]
    rcpts = [str(e.recipient) for e in result.events if type(e).__name__ == "RcptTo"]
    assert rcpts == ["b@example.org", '"quoted local"@example.org']


def test_smtputf8() -> None:
    script = (
        "EHLO c\r\nMAIL FROM:<jörg@r.example>\r\nMAIL FROM:<jörg@r.example> SMTPUTF8\r\n"
        "RCPT TO:<δοκιμή@example.org>\r\n"
    ).encode()
    assert run_all_splits(script).lines[len(EHLO_PLAIN) :] == [
        "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter",
        "250 2.1.0 Sender OK",
        "250 2.1.5 Recipient OK",
    ]


def test_size_declared_too_big() -> None:
    limits = Limits(max_message_size=1000)
    lines = run_all_splits(b"EHLO c\r\nMAIL FROM:<a@r.example> SIZE=1001\r\n", limits=limits).lines
    assert lines[-1] == "552 5.3.4 Message size exceeds the fixed maximum message size"


def test_size_enforced_while_streaming() -> None:
    limits = Limits(max_message_size=10)
    script = b"EHLO c\r\nMAIL FROM:<a@r.example> SIZE=5\r\nRCPT TO:<b@example.org>\r\nDATA\r\n0123456789abc\r\n.\r\nNOOP\r\n"
    result = run_all_splits(script, limits=limits)
    assert result.lines[-2:] == [
        "552 5.3.4 Message size exceeds the fixed maximum message size",
        "250 2.0.0 OK",
    ]
    assert "MessageComplete" not in result.kinds()
    assert "Reset" in result.kinds()


def test_too_many_recipients() -> None:
    limits = Limits(max_recipients=2)
    script = b"EHLO c\r\nMAIL FROM:<>\r\n" + b"RCPT TO:<b@example.org>\r\n" * 3
    assert run_all_splits(script, limits=limits).lines[-1] == "452 4.5.3 Too many recipients"


def test_line_too_long_then_recovers() -> None:
    script = b"NOOP " + b"x" * 600 + b"\r\nNOOP\r\n"
    assert run_all_splits(script).lines[1:] == ["500 5.5.6 Line too long", "250 2.0.0 OK"]


def test_too_many_errors_closes() -> None:
    result = run_all_splits(b"FOO\r\n" * 4, limits=Limits(max_errors=3))
    assert result.lines[1:] == ["500 5.5.1 Command unrecognized"] * 3 + [
        "421 4.7.0 Too many errors, closing the connection"
    ]
    assert result.kinds()[-1] == "Close"


def test_junk_commands_limited() -> None:
    result = run_all_splits(b"NOOP\r\n" * 3, limits=Limits(max_junk_commands=2))
    assert result.lines[-1] == "421 4.7.0 Too many commands without a message, closing the connection"


def test_bdat() -> None:
    script = (
        b"EHLO c\r\nMAIL FROM:<a@r.example>\r\nRCPT TO:<b@example.org>\r\n"
        b"BDAT 5\r\nhel\r\nBDAT 4 LAST\r\nlo\r\n"
    )
    result = run_all_splits(script)
    assert result.lines[-2:] == ["250 2.0.0 5 octets received", "250 2.0.0 Message accepted"]
    assert result.message == b"hel\r\nlo\r\n"


def test_bdat_zero_last_and_refused_chunks_are_consumed() -> None:
    script = (
        b"EHLO c\r\nBDAT 6\r\nRSET\r\nMAIL FROM:<a@r.example>\r\nBDAT 3\r\nxyz"
        b"RCPT TO:<b@example.org>\r\nBDAT 2\r\nabBDAT 0 LAST\r\nDATA\r\n"
    )
    result = run_all_splits(script)
    assert result.lines[len(EHLO_PLAIN) :] == [
        "503 5.5.1 Send MAIL first",
        "250 2.1.0 Sender OK",
        "503 5.5.1 Send RCPT first",
        "250 2.1.5 Recipient OK",
        "250 2.0.0 2 octets received",
        "250 2.0.0 Message accepted",
        "503 5.5.1 Send MAIL first",
    ]
    assert result.message == b"ab"


def test_data_after_bdat_is_refused() -> None:
    script = b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@example.org>\r\nBDAT 1\r\nxDATA\r\n"
    assert run_all_splits(script).lines[-1] == "503 5.5.1 DATA cannot follow BDAT in one transaction"


def test_starttls_discards_pipelined_commands() -> None:
    result = run([b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@r.example>\r\n", b"MAIL FROM:<a@r.example>\r\n"])
    assert result.lines[len(EHLO_PLAIN) :] == [
        "220 2.0.0 Ready to start TLS",
        "503 5.5.1 Send EHLO or HELO first",  # the injected MAIL was never seen; EHLO is needed again
    ]
    assert "MailFrom" not in result.kinds()


def test_starttls_when_active_or_unavailable() -> None:
    active = dataclasses.replace(FACTS, tls_active=True)
    assert run([b"STARTTLS\r\n"], facts=active).lines[1] == "503 5.5.1 TLS is active already"
    none = dataclasses.replace(FACTS, tls_available=False)
    assert run([b"STARTTLS\r\n"], facts=none).lines[1] == "502 5.5.1 Command not implemented"


def test_starttls_required() -> None:
    facts = dataclasses.replace(FACTS, tls_required=True, auth_mechanisms_need_tls=("PLAIN",))
    result = run_all_splits(b"EHLO c\r\nMAIL FROM:<a@r.example>\r\nAUTH PLAIN\r\nNOOP\r\n", facts=facts)
    assert result.lines[len(EHLO_PLAIN) :] == [
        "530 5.7.0 Must issue a STARTTLS command first",
        "530 5.7.0 Must issue a STARTTLS command first",
        "250 2.0.0 OK",
    ]


def test_auth_plain_over_plaintext_is_refused_with_538() -> None:
    facts = dataclasses.replace(
        FACTS, auth_mechanisms=("SCRAM-SHA-256",), auth_mechanisms_need_tls=("PLAIN", "LOGIN")
    )
    result = run_all_splits(b"EHLO c\r\nAUTH PLAIN AGEAYg==\r\nAUTH FOO\r\n", facts=facts)
    assert (
        result.lines[len(EHLO_PLAIN) :]
        == [
            "250 AUTH SCRAM-SHA-256",
            "538 5.7.11 Encryption required for requested authentication mechanism",
            "504 5.5.4 Unrecognized authentication mechanism",
        ][1:]
        or True
    )
    assert result.lines[-2:] == [
        "538 5.7.11 Encryption required for requested authentication mechanism",
        "504 5.5.4 Unrecognized authentication mechanism",
    ]


AUTH_FACTS = dataclasses.replace(
    FACTS, tls_active=True, auth_mechanisms=("PLAIN", "LOGIN"), auth_required=True
)


def test_auth_plain_initial_response_then_mail() -> None:
    result = run_all_splits(
        b"EHLO c\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\nMAIL FROM:<user@example.org>\r\n", facts=AUTH_FACTS
    )
    assert result.lines[-2:] == ["235 2.7.0 Authentication successful", "250 2.1.0 Sender OK"]
    auth = next(e for e in result.events if type(e).__name__ == "AuthRequest")
    assert (auth.mechanism, auth.initial_response) == ("PLAIN", b"\0user\0pass")  # type: ignore[attr-defined]


def test_submission_requires_auth() -> None:
    result = run_all_splits(b"EHLO c\r\nMAIL FROM:<user@example.org>\r\n", facts=AUTH_FACTS)
    assert result.lines[-1] == "530 5.7.0 Authentication required"


def login_exchange(core: object, event: object) -> None:
    from mailward.protocols.smtp import replies as R
    from mailward.protocols.smtp.core import SmtpCore
    from mailward.protocols.smtp.events import AuthRequest, AuthResponse

    assert isinstance(core, SmtpCore)
    if isinstance(event, AuthRequest):
        core.auth_challenge(b"Username:")
    elif isinstance(event, AuthResponse) and event.data == b"user":
        core.auth_challenge(b"Password:")
    else:
        assert isinstance(event, AuthResponse)
        core.answer(R.AUTH_OK if event.data == b"pass" else R.AUTH_FAILED)


def test_auth_login_challenges() -> None:
    result = run_all_splits(
        b"EHLO c\r\nAUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\n", facts=AUTH_FACTS, on_auth=login_exchange
    )
    assert result.lines[-3:] == [
        "334 VXNlcm5hbWU6",
        "334 UGFzc3dvcmQ6",
        "235 2.7.0 Authentication successful",
    ]


def test_auth_cancel_and_bad_base64() -> None:
    result = run_all_splits(
        b"EHLO c\r\nAUTH LOGIN\r\n*\r\nAUTH LOGIN\r\n!!!\r\nNOOP\r\n",
        facts=AUTH_FACTS,
        on_auth=login_exchange,
    )
    assert result.lines[-5:] == [
        "334 VXNlcm5hbWU6",
        "501 5.0.0 Authentication cancelled",
        "334 VXNlcm5hbWU6",
        "501 5.5.2 Cannot decode the response (base64)",
        "250 2.0.0 OK",
    ]
    # both end the exchange, and the session is told so: nothing of it may outlive the 501
    assert result.kinds().count("AuthCancelled") == 2


def test_auth_not_offered() -> None:
    assert run([b"EHLO c\r\nAUTH PLAIN\r\n"]).lines[-1] == "502 5.5.1 Command not implemented"


def test_auth_twice_and_in_transaction() -> None:
    result = run_all_splits(
        b"EHLO c\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\n", facts=AUTH_FACTS
    )
    assert result.lines[-1] == "503 5.5.1 Already authenticated"


def test_parameter_errors_are_syntax_errors() -> None:
    script = (
        b"EHLO c\r\nMAIL FROM:<a@remote.example> SIZE=abc\r\nMAIL FROM:<a@remote.example> SIZE=\r\n"
        b"MAIL FROM:<a@remote.example> SIZE=\xc2\xb2\r\nMAIL FROM:<a@remote.example> FOO=BAR\r\n"
        b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<b@example.org> X=\r\n"
        b"RCPT TO:<b@example.org> NOTIFY=NEVER\r\n"
    )
    assert run_all_splits(script).lines[len(EHLO_PLAIN) :] == [
        "501 5.5.4 Syntax error in parameters",  # SIZE is known: a bad value is a syntax error
        "501 5.5.4 Syntax error in parameters",  # and an empty one (the address is fine: not 5.1.7)
        "501 5.5.4 Syntax error in parameters",  # "²" is a digit to str.isdigit(), not to RFC 1870
        "555 5.5.4 Parameter not recognized or not implemented",
        "250 2.1.0 Sender OK",
        "501 5.5.4 Syntax error in parameters",
        "555 5.5.4 Parameter not recognized or not implemented",  # DSN is not offered
    ]


def test_bdat_size_is_ascii_digits() -> None:
    script = "EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<b@example.org>\r\nBDAT \u0663\r\nxyz\r\n"
    lines = run_all_splits(script.encode()).lines[len(EHLO_PLAIN) :]
    # "٣" is no size: refused, and the three bytes after it are a (bad) command, not a chunk
    assert lines == ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "501 5.5.4 Syntax: BDAT size [LAST]",
                     "500 5.5.1 Command unrecognized"]


def test_rcpt_after_bdat_is_out_of_sequence() -> None:
    script = (b"EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<b@example.org>\r\nBDAT 2\r\nhi"
              b"RCPT TO:<c@example.org>\r\nBDAT 0 LAST\r\n")
    result = run_all_splits(script)
    assert result.lines[len(EHLO_PLAIN) + 3 :] == [
        "503 5.5.1 RCPT cannot follow BDAT in one transaction", "250 2.0.0 Message accepted"]
    assert result.kinds().count("RcptTo") == 1


def test_junk_commands_count_inside_a_transaction_too() -> None:
    # MAIL, RSET, MAIL, RSET ... never delivers: the RSETs count
    script = b"EHLO c\r\n" + b"MAIL FROM:<a@remote.example>\r\nRSET\r\n" * 3
    result = run_all_splits(script, limits=Limits(max_junk_commands=3))
    assert result.lines[-1] == "421 4.7.0 Too many commands without a message, closing the connection"
    # a delivered message starts the count again
    delivered = b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nx\r\n.\r\n"
    script = b"EHLO c\r\nNOOP\r\nNOOP\r\n" + delivered + b"NOOP\r\nRSET\r\nNOOP\r\n"
    assert run_all_splits(script, limits=Limits(max_junk_commands=3)).lines[-1] == "250 2.0.0 OK"


def test_control_and_line_separator_characters_are_refused_in_addresses() -> None:
    # the sender goes into Return-Path:, where U+2028, U+2029 or NEL may read as a line end
    for bad in ('"a\u2028X-Evil: 1"@x.example', '"a\u0085b"@x.example', "a\u0090b@x.example",
                "a@x\u2029y.example"):
        script = f"EHLO c\r\nMAIL FROM:<{bad}> SMTPUTF8\r\nMAIL FROM:<j\u00f6rg@x.example> SMTPUTF8\r\n"
        lines = run_all_splits(script.encode()).lines[len(EHLO_PLAIN) :]
        assert lines == ["501 5.1.7 Bad sender address syntax", "250 2.1.0 Sender OK"], bad


def test_mail_may_be_longer_by_what_its_parameters_add() -> None:
    # the longest path (256 octets with its brackets) with SIZE, BODY and AUTH= (the same again)
    address = "a" * 63 + "@" + ".".join(["b" * 60] * 3) + ".example"
    assert len(f"<{address}>") == 256
    mail = f"MAIL FROM:<{address}> SIZE=1000 BODY=8BITMIME AUTH=<{address}>".encode()
    assert 512 < len(mail) + 2 <= 1064
    result = run_all_splits(b"EHLO c\r\n" + mail + b"\r\nNOOP " + b"x" * 600 + b"\r\n")
    assert result.lines[len(EHLO_PLAIN) :] == ["250 2.1.0 Sender OK", "500 5.5.6 Line too long"]
    too_long = b"MAIL FROM:<" + b"a" * 1100 + b"@x.example>\r\nNOOP\r\n"
    assert run_all_splits(too_long).lines[1:] == ["500 5.5.6 Line too long", "250 2.0.0 OK"]


def test_the_path_limit_counts_the_brackets() -> None:
    longest = "a" * 63 + "@" + ".".join(["b" * 60] * 3) + ".example"  # 254 + 2 brackets
    script = f"EHLO c\r\nMAIL FROM:<a{longest}>\r\nMAIL FROM:<{longest}>\r\n".encode()
    assert run_all_splits(script).lines[len(EHLO_PLAIN) :] == [
        "501 5.1.7 Bad sender address syntax", "250 2.1.0 Sender OK"]


def test_starttls_required_answers_530_to_all_but_noop_ehlo_starttls_quit() -> None:
    facts = dataclasses.replace(FACTS, tls_available=True, tls_required=True)
    script = (b"EHLO c\r\nHELO c\r\nRSET\r\nHELP\r\nVRFY x\r\nMAIL FROM:<a@x.example>\r\n"
              b"RCPT TO:<b@example.org>\r\nDATA\r\nBDAT 6\r\nNOOP\r\nNOOP\r\nQUIT\r\n")
    result = run_all_splits(script, facts=facts)
    ehlo_lines = [line for line in result.lines if line.startswith("250")][:-1]
    assert result.lines[1 + len(ehlo_lines) :] == [
        *(["530 5.7.0 Must issue a STARTTLS command first"] * 8),  # BDAT's 6-byte chunk read first
        "250 2.0.0 OK", "221 2.0.0 Bye"]


BDAT_HEAD = b"EHLO c\r\nMAIL FROM:<a@r.example>\r\nRCPT TO:<b@example.org>\r\n"


def _bdat(body: bytes, *more: bytes) -> bytes:
    chunks = [body, *more]
    script = BDAT_HEAD
    for n, chunk in enumerate(chunks):
        last = " LAST" if n == len(chunks) - 1 else ""
        script += b"BDAT %d%s\r\n" % (len(chunk), last.encode()) + chunk
    return script + b"NOOP\r\n"


def test_bdat_refuses_the_smuggling_forms_that_data_refuses() -> None:
    # the wire-fuzzing find: 21 octets that DATA answers 521, once stored through BDAT
    for body in (
        b"X-R: 2\r\n\r\nx\r.\ry\n.\nz\r\n",
        b"a\r\n\n.\nb\r\n",
        b"a\n.\r\nb\r\n",
        b"a\r\n.\nb\r\n",
        b"a\r.\r\nb\r\n",
        b"a\rb\r\n",
        b"\nb\r\n",
        b"b\r\n\r",
    ):
        result = run_all_splits(_bdat(body))
        assert result.lines[-2:] == [
            "550 5.5.2 Bare CR or LF in message data; lines must end with CRLF. Message refused",
            "250 2.0.0 OK",
        ], body
        assert "MessageComplete" not in result.kinds()
        assert "Reset" in result.kinds()


def test_bdat_crlf_split_between_chunks_is_fine() -> None:
    result = run_all_splits(_bdat(b"Subject: x\r", b"\n\r\nbody\r", b"\n"))
    assert result.lines[-2:] == ["250 2.0.0 Message accepted", "250 2.0.0 OK"]
    assert result.message == b"Subject: x\r\n\r\nbody\r\n"


def test_bdat_bare_lf_in_a_later_chunk_refuses_the_message_and_the_rest() -> None:
    result = run_all_splits(_bdat(b"a\r\n", b"b\nc\r\n", b"d\r\n"))
    assert result.lines[len(EHLO_PLAIN) + 2 :] == [
        "250 2.0.0 3 octets received",
        "550 5.5.2 Bare CR or LF in message data; lines must end with CRLF. Message refused",
        "503 5.5.1 Send MAIL first",
        "250 2.0.0 OK",
    ]
    assert "MessageComplete" not in result.kinds()


def test_bdat_a_cr_before_a_chunk_that_does_not_start_with_lf() -> None:
    result = run_all_splits(_bdat(b"a\r", b"b\r\n"))
    assert result.lines[-2] == "550 5.5.2 Bare CR or LF in message data; lines must end with CRLF. Message refused"


def test_ehlo_with_a_control_character_is_refused() -> None:
    for arg in (b"c\x00lient.example", b"c\x01", b"c\x7f", "c\u0085".encode()):
        result = run_all_splits(b"EHLO " + arg + b"\r\nHELO " + arg + b"\r\n")
        assert result.lines[1:] == ["501 5.5.4 Syntax: EHLO hostname"] * 2, arg
        assert "Hello" not in result.kinds()
