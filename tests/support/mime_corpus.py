"""Real-world-shaped messages for MIME tests, built here (no downloaded files).

Each builder returns the message bytes with CRLF line ends. Bodies carry unique
marker text so tests can find the expected offsets with bytes.index.
"""

from __future__ import annotations

import base64
import quopri


def crlf(text: str | bytes) -> bytes:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def b64(data: bytes, width: int = 76) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return "\n".join(encoded[i:i + width] for i in range(0, len(encoded), width))


def simple(subject: str = "hello", body: str = "Hello there.\n", extra: str = "") -> bytes:
    return crlf(f"From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: {subject}\n"
                f"Date: Mon, 7 Dec 2026 10:00:00 +0000\nMessage-ID: <s1@example.org>\n{extra}\n{body}")


def digest() -> bytes:
    """A mailing-list digest: multipart/digest whose parts default to message/rfc822."""
    return crlf("""From: list-request@lists.example.org
To: list@lists.example.org
Subject: Example-list Digest, Vol 12, Issue 3
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="===============outer=="

--===============outer==
Content-Type: text/plain; charset="us-ascii"
Content-Description: Example-list Digest, Vol 12, Issue 3

Today's Topics:
   1. first topic
   2. second topic

--===============outer==
Content-Type: multipart/digest; boundary="===============digest=="

--===============digest==

From: Carol <carol@example.com>
Subject: first topic
Message-ID: <d1@example.com>

First digest message body.

--===============digest==

From: Dave <dave@example.com>
Subject: second topic
Message-ID: <d2@example.com>
Content-Type: text/plain; charset=utf-8

Second digest message body.

--===============digest==--

--===============outer==
Content-Type: text/plain; charset="us-ascii"
Content-Disposition: inline

Digest footer text.
--===============outer==--
""")


def forwarded() -> bytes:
    """Forwarded as attachment: message/rfc822 holding a multipart/alternative."""
    return crlf("""From: Erin <erin@example.org>
To: Frank <frank@example.net>
Subject: Fwd: plans
Message-ID: <fwd1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd-outer"

--fwd-outer
Content-Type: text/plain; charset=utf-8

See the message below.
--fwd-outer
Content-Type: message/rfc822; name="plans.eml"
Content-Disposition: attachment; filename="plans.eml"

From: Grace <grace@example.com>
To: Erin <erin@example.org>
Cc: team: heidi@example.com, ivan@example.com;
Subject: plans
Date: Sun, 6 Dec 2026 09:30:00 +0100
Message-ID: <orig1@example.com>
In-Reply-To: <older@example.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner-alt"

--inner-alt
Content-Type: text/plain; charset=us-ascii

Plain plans.
--inner-alt
Content-Type: text/html; charset=us-ascii

<p>HTML plans.</p>
--inner-alt--
--fwd-outer--
""")


def tnef() -> bytes:
    """Outlook's rich text attachment: application/ms-tnef named winmail.dat."""
    blob = b"\x78\x9f\x3e\x22" + bytes(range(256)) * 2
    return crlf(f"""From: "Outlook User" <ou@corp.example>
To: someone@example.org
Subject: Quarterly report
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="_002_TNEF_"

--_002_TNEF_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Please see the attached report.
--_002_TNEF_
Content-Type: application/ms-tnef; name="winmail.dat"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="winmail.dat"

{b64(blob)}
--_002_TNEF_--
""")


def smime_signed() -> bytes:
    """S/MIME signed (RFC 8551 3.5.3): multipart/signed with a detached pkcs7 signature."""
    signature = b"0\x82\x05\x00\x06\t*\x86H\x86\xf7\r\x01\x07\x02" + b"\x00" * 64
    return crlf(f"""From: signer@example.org
To: verifier@example.net
Subject: signed
MIME-Version: 1.0
Content-Type: multipart/signed; protocol="application/pkcs7-signature";
 micalg=sha-256; boundary="----sig-boundary"

This is an S/MIME signed message

------sig-boundary
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

Signed text.
------sig-boundary
Content-Type: application/pkcs7-signature; name="smime.p7s"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="smime.p7s"
Content-Description: S/MIME Cryptographic Signature

{b64(signature)}

------sig-boundary--

""")


def calendar_invite() -> bytes:
    """An invitation: text/calendar; method=REQUEST inside multipart/alternative."""
    ics = ("BEGIN:VCALENDAR\nMETHOD:REQUEST\nBEGIN:VEVENT\nUID:ev1@example.org\n"
           "SUMMARY:Planning\nDTSTART:20261210T100000Z\nEND:VEVENT\nEND:VCALENDAR\n")
    return crlf(f"""From: Organizer <org@example.org>
To: attendee@example.net
Subject: Invitation: Planning
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mixed-cal"

--mixed-cal
Content-Type: multipart/alternative; boundary="alt-cal"

--alt-cal
Content-Type: text/plain; charset="UTF-8"

You are invited to Planning.
--alt-cal
Content-Type: text/html; charset="UTF-8"

<html><body>You are invited to <b>Planning</b>.</body></html>
--alt-cal
Content-Type: text/calendar; charset="UTF-8"; method=REQUEST
Content-Transfer-Encoding: 7bit

{ics}--alt-cal--

--mixed-cal
Content-Type: application/ics; name="invite.ics"
Content-Disposition: attachment; filename="invite.ics"
Content-Transfer-Encoding: base64

{b64(ics.encode())}
--mixed-cal--
""")


def legacy_charsets() -> bytes:
    """Non-UTF-8 text: iso-8859-1 QP, iso-2022-jp, windows-1252 8bit, koi8-r base64."""
    latin = quopri.encodestring("Grüße aus Köln, café.\n".encode("iso-8859-1")).decode("ascii")
    jp = "こんにちは世界\n".encode("iso-2022-jp")
    cp1252 = "“Smart quotes” \u2013 and the € sign\n".encode("windows-1252")
    koi = "Привет, мир\n".encode("koi8-r")
    subject = "=?koi8-r?B?" + base64.b64encode("Привет".encode("koi8-r")).decode() + "?="
    head = f"""From: legacy@example.org
To: reader@example.net
Subject: {subject}
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="legacy"

--legacy
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

{latin}--legacy
Content-Type: text/plain; charset=ISO-2022-JP
Content-Transfer-Encoding: 7bit

""".encode("ascii")
    tail = f"""--legacy
Content-Type: text/plain; charset=koi8-r
Content-Transfer-Encoding: base64

{b64(koi)}
--legacy--
""".encode("ascii")
    middle = (jp + b"--legacy\nContent-Type: text/plain; charset=windows-1252\n"
              b"Content-Transfer-Encoding: 8bit\n\n" + cp1252)
    return crlf(head + middle + tail)


def rfc2231() -> bytes:
    """RFC 2231 parameters: continuations with a charset, and a language."""
    return crlf("""From: sender@example.org
To: rcpt@example.net
Subject: rates
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b2231

--b2231
Content-Type: text/plain

See attachment.
--b2231
Content-Type: application/pdf;
 name*0*=utf-8''%E2%82%AC%20rates%20;
 name*1="for 2027.pdf"
Content-Disposition: attachment;
 filename*0*=utf-8''%E2%82%AC%20rates%20;
 filename*1="for 2027.pdf"; size=3
Content-Language: en-GB, fr (French)
Content-Location: https://example.org/
 rates.pdf
Content-ID: <rates@example.org>
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==
Content-Transfer-Encoding: base64

UERG
--b2231--
""")


def encoded_subjects() -> bytes:
    """RFC 2047: B and Q words, adjacent words joined without the space between."""
    return simple(subject="=?UTF-8?B?w5xiZXI=?= =?UTF-8?Q?_gr=C3=BC=C3=9Fe?=\n =?ISO-8859-1?Q?caf=E9?= tail",
                  extra="X-Note: =?utf-8?q?a?=  =?utf-8?q?b?= c =?utf-8?q?d?=\n")


def addresses() -> bytes:
    """Groups, comments, quoted local parts, an obsolete route, a missing domain."""
    return crlf("""From: "Smith, John" (work) <"john smith"@example.org>
Sender: secretary@example.org (The Secretary)
Reply-To: Mailing List: ml@example.org, "Q. Public" <qp@example.net>;
To: undisclosed-recipients:;
Cc: <@relay.example:routed@example.com>, root, =?utf-8?Q?J=C3=B6rg?= <jorg@example.de>
Bcc: hidden@example.org
Subject: addresses
In-Reply-To: <a@x> <b@y>
Message-ID: <addr@example.org>

Body.
""")


def message_global() -> bytes:
    """RFC 6532 3.7: message/global with UTF-8 header fields inside."""
    return crlf("""From: intl@example.org
To: rcpt@example.net
Subject: forwarded intl
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=glob

--glob
Content-Type: message/global

From: Jürgen <jürgen@bücher.example>
To: rcpt@example.net
Subject: Grüße
Content-Type: text/plain; charset=utf-8

Grüße!
--glob--
""")


CORPUS = {
    "simple": simple,
    "digest": digest,
    "forwarded": forwarded,
    "tnef": tnef,
    "smime_signed": smime_signed,
    "calendar_invite": calendar_invite,
    "legacy_charsets": legacy_charsets,
    "rfc2231": rfc2231,
    "encoded_subjects": encoded_subjects,
    "addresses": addresses,
    "message_global": message_global,
}


def all_messages() -> dict[str, bytes]:
    return {name: build() for name, build in CORPUS.items()}
