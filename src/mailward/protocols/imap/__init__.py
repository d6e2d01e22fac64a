"""The IMAP protocol core, sans-IO (RFC 9051 IMAP4rev2 and RFC 3501 IMAP4rev1).

Bytes in, typed commands out; typed values in, response bytes out. Nothing here reads a
socket, a clock or the store. The session (``server/imap/``) drives it:

Reading (:mod:`.parser`)::

    parser = CommandParser(Limits(...), Context(utf8=False))
    parser.receive(data)
    while (item := parser.next_command()) is not NEED_MORE_DATA:
        match item:
            case NeedLiteral(synchronizing=True):  # "{n}": ask the client for the octets
                send(encoder.continuation())       # "+ Ready" -- or parser.refuse_literal()
            case NeedLiteral():                    # "{n+}": the octets are already coming
                pass                               # (either: parser.stream_literal() for APPEND)
            case LiteralChunk(data, last):         # a streamed APPEND message, chunk by chunk
                ...
            case ParseError(close=True):           # "* BYE [code] text", then close
                ...
            case ParseError():                     # "tag BAD text" / "tag NO [TOOBIG] text"
                ...                                # ("* BAD" when item.tag is None)
            case _:                                # a Command: check state.allowed(), run it
                ...

During AUTHENTICATE and IDLE the session reads raw lines with
:meth:`.parser.CommandParser.next_line` and reads them with
:func:`.commands.parse_sasl_response` / :func:`.commands.is_done`. After STARTTLS it
calls :meth:`.parser.CommandParser.discard_buffered`. After ENABLE UTF8=ACCEPT or
IMAP4rev2 it sets ``parser.context = Context(utf8=True)`` and ``encoder.utf8 = True``.

Writing (:mod:`.response`): :class:`.response.Encoder` renders tagged and untagged
status responses with :mod:`.codes`, untagged data from typed values, FETCH responses
whose body parts are streamed (:class:`.response.Stream`), and continuations.

Policy (:mod:`.policy`): the CAPABILITY list and ``NO [PRIVACYREQUIRED]`` for plaintext
logins, from the facts the session passes in (:class:`.policy.Facts`).

States (:mod:`.state`): ``NotAuthenticated``, ``Authenticated``, ``Selected(mailbox,
read_only)``, ``LoggedOut`` and one table, :data:`.state.COMMANDS_BY_STATE`, asked
through :func:`.state.allowed`; :func:`.state.uses_sequence_numbers` and
:func:`.state.may_send_expunge` carry RFC 9051 5.5 and 7.5.1.
"""
