"""Feeding the sans-IO IMAP parser: whole, one byte at a time and split at every offset."""

from __future__ import annotations

from mailward.protocols.imap.commands import Command, Context
from mailward.protocols.imap.parser import NEED_MORE_DATA, CommandParser, Limits, NeedLiteral, ParseError

Result = Command | NeedLiteral | ParseError


def run(chunks: list[bytes], limits: Limits | None = None, context: Context | None = None) -> list[Result]:
    """Feed ``chunks`` one after the other; every result the parser gives, in order."""
    parser = CommandParser(limits, context)
    results: list[Result] = []
    for chunk in chunks:
        parser.receive(chunk)
        for _ in range(10_000):
            result = parser.next_command()
            if result is NEED_MORE_DATA:
                break
            assert not isinstance(result, type(NEED_MORE_DATA))
            results.append(result)
        else:
            raise AssertionError("the parser does not stop")
    return results


def run_all_ways(script: bytes, limits: Limits | None = None, context: Context | None = None,
                 every_offset: bool = True) -> list[Result]:
    """The results of ``script`` fed whole; asserts byte by byte and every split agree."""
    whole = run([script], limits, context)
    assert run([bytes([b]) for b in script], limits, context) == whole, "byte by byte differs"
    if every_offset:
        for cut in range(1, len(script)):
            assert run([script[:cut], script[cut:]], limits, context) == whole, f"split at {cut} differs"
    return whole


def one(script: bytes, context: Context | None = None, limits: Limits | None = None) -> Command | ParseError:
    """The one command (or error) ``script`` holds, fed all three ways; literals announced dropped."""
    results = [r for r in run_all_ways(script, limits, context) if not isinstance(r, NeedLiteral)]
    assert len(results) == 1, results
    return results[0]


def command(script: bytes, context: Context | None = None) -> Command:
    result = one(script, context)
    assert not isinstance(result, ParseError), result
    return result


def error(script: bytes, context: Context | None = None) -> ParseError:
    result = one(script, context)
    assert isinstance(result, ParseError), result
    return result
