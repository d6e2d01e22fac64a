"""Untagged data responses (RFC 9051 7.2-7.5, and the extensions'), rendered with an
:class:`~mailward.protocols.imap.response.Encoder` so strings and mailbox names follow
the connection's UTF-8 setting. FETCH is :meth:`Encoder.fetch`; BODYSTRUCTURE and
ENVELOPE values come from the MIME side as :class:`~mailward.protocols.imap.response.Raw`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mailward.protocols.imap.response import Atom, Encoder, Mailbox, Response, Value
from mailward.protocols.imap.seqset import SequenceSet


def _atoms(words: Iterable[str]) -> list[Value]:
    return [Atom(w) for w in words]


def capability(enc: Encoder, capabilities: Iterable[str]) -> Response:
    """``* CAPABILITY IMAP4rev2 ...`` (RFC 9051 7.2.2)."""
    return enc.untagged(Atom("CAPABILITY"), *_atoms(capabilities))


def enabled(enc: Encoder, capabilities: Iterable[str]) -> Response:
    """``* ENABLED ...`` (RFC 9051 7.2.1), possibly empty."""
    return enc.untagged(Atom("ENABLED"), *_atoms(capabilities))


def exists(enc: Encoder, count: int) -> Response:
    return enc.untagged(count, Atom("EXISTS"))  # RFC 9051 7.4.1


def recent(enc: Encoder, count: int) -> Response:
    return enc.untagged(count, Atom("RECENT"))  # RFC 3501 7.3.2 (IMAP4rev1 only)


def expunge(enc: Encoder, number: int) -> Response:
    return enc.untagged(number, Atom("EXPUNGE"))  # RFC 9051 7.5.1


def vanished(enc: Encoder, uids: SequenceSet, earlier: bool = False) -> Response:
    """``* VANISHED [(EARLIER)] uids`` (RFC 7162 3.2.10), for QRESYNC later."""
    head: list[Value] = [Atom("VANISHED")] + ([[Atom("EARLIER")]] if earlier else [])
    return enc.untagged(*head, Atom(str(uids)))


def flags(enc: Encoder, names: Iterable[str]) -> Response:
    """``* FLAGS (\\Answered ...)`` (RFC 9051 7.3.5)."""
    return enc.untagged(Atom("FLAGS"), _atoms(names))


def list_item(
    enc: Encoder,
    attributes: Iterable[str],
    delimiter: str | None,
    name: str,
    *,
    extended: Sequence[tuple[str, Value]] = (),
    command: str = "LIST",
) -> Response:
    """``* LIST (\\HasNoChildren) "/" name [extended items]`` (RFC 9051 7.3.1, RFC 5258 3.4).

    ``extended`` holds e.g. ``("CHILDINFO", ("SUBSCRIBED",))`` or ``("OLDNAME", ...)``;
    ``command`` "LSUB" for RFC 3501 LSUB.
    """
    values: list[Value] = [Atom(command), _atoms(attributes), delimiter, Mailbox(name)]
    if extended:
        items: list[Value] = []
        for tag, value in extended:
            items += [tag, value]  # RFC 5258 3.4: the tag is an astring, quoted in the RFC's examples
        values.append(items)
    return enc.untagged(*values)


def status(enc: Encoder, mailbox: str, items: Sequence[tuple[str, int]]) -> Response:
    """``* STATUS name (MESSAGES 231 UIDNEXT 44292)`` (RFC 9051 7.3.4)."""
    flat: list[Value] = []
    for item, number in items:
        flat += [Atom(item), number]
    return enc.untagged(Atom("STATUS"), Mailbox(mailbox), flat)


def search(enc: Encoder, numbers: Iterable[int], modseq: int | None = None) -> Response:
    """``* SEARCH 2 3 6`` (RFC 3501 7.2.5), with ``(MODSEQ n)`` for CONDSTORE (RFC 7162 3.1.5)."""
    values: list[Value] = [Atom("SEARCH"), *numbers]
    if modseq is not None:
        values.append([Atom("MODSEQ"), modseq])
    return enc.untagged(*values)


def esearch(
    enc: Encoder,
    tag: str | None,
    uid: bool,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    all_: SequenceSet | None = None,
    count: int | None = None,
    modseq: int | None = None,
) -> Response:
    """``* ESEARCH (TAG "a") UID MIN 2 MAX 9 ALL 2:9 COUNT 5`` (RFC 9051 7.3.4, RFC 4731 3.2).

    Only the results asked for are passed; ALL is left out when there is no match
    (RFC 4731 3.1: an empty set is not sent).
    """
    values: list[Value] = [Atom("ESEARCH")]
    if tag is not None:
        values.append([Atom("TAG"), tag])
    if uid:
        values.append(Atom("UID"))
    for name, value in (("MIN", minimum), ("MAX", maximum), ("COUNT", count), ("MODSEQ", modseq)):
        if value is not None:
            values += [Atom(name), value]
    if all_ is not None and all_.ranges:
        values += [Atom("ALL"), Atom(str(all_))]
    return enc.untagged(*values)


Namespace = Sequence[tuple[str, str | None]]


def namespace(
    enc: Encoder, personal: Namespace | None, other: Namespace | None, shared: Namespace | None
) -> Response:
    """``* NAMESPACE (("" "/")) NIL NIL`` (RFC 9051 7.3.2)."""

    def group(spaces: Namespace | None) -> Value:
        # namespace-descr = "(" string SP (DQUOTE QUOTED-CHAR DQUOTE / nil) ")"
        return [[Mailbox(prefix, string=True), sep] for prefix, sep in spaces] if spaces else None

    return enc.untagged(Atom("NAMESPACE"), group(personal), group(other), group(shared))


def id_response(enc: Encoder, fields: Sequence[tuple[str, str | None]] | None) -> Response:
    """``* ID ("name" "mailward" ...)`` or ``* ID NIL`` (RFC 2971 3.2)."""
    if fields is None:
        return enc.untagged(Atom("ID"), None)
    flat: list[Value] = []
    for field, value in fields:
        flat += [field, value]
    return enc.untagged(Atom("ID"), flat)


def quota(enc: Encoder, root: str, resources: Sequence[tuple[str, int, int]]) -> Response:
    """``* QUOTA "" (STORAGE 10 512)``: (resource, usage, limit), STORAGE in KiB (RFC 9208 5.1)."""
    flat: list[Value] = []
    for name, usage, limit in resources:
        flat += [Atom(name), usage, limit]
    return enc.untagged(Atom("QUOTA"), root, flat)


def quotaroot(enc: Encoder, mailbox: str, roots: Iterable[str]) -> Response:
    """``* QUOTAROOT INBOX ""`` (RFC 9208 5.2)."""
    return enc.untagged(Atom("QUOTAROOT"), Mailbox(mailbox), *roots)
