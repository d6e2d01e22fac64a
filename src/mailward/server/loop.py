"""The event loop the server runs on: the standard library's, or uvloop (``event_loop``).

uvloop's own ``start_tls`` lost server-side handshakes now and then (uvloop issue
#707), which kept it out while every TLS connection went through ``loop.start_tls``;
the server's own TLS layer (:mod:`mailward.server.tls`) uses plain transports only,
so either loop serves TLS the same way.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from mailward.config import Config, Problem
from mailward.config.access import Identity

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class LoopUnavailable(Exception):
    pass


def loop_factory(name: str) -> LoopFactory | None:
    """What makes a loop of kind ``name`` (``None``: asyncio's default). Import it before
    dropping privileges: the module may sit where the service user cannot read."""
    if name == "asyncio":
        return None
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise LoopUnavailable(f"{name} is not installed ({exc})") from None
    factory: LoopFactory = module.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T], factory: LoopFactory | None) -> T:
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def check_event_loop(config: Config, who: Identity) -> Iterable[Problem]:
    try:
        loop_factory(config.event_loop)
    except LoopUnavailable as exc:
        yield Problem("event_loop", str(exc),
                      f"install it (pip install 'mailward[{config.event_loop}]') or set "
                      'event_loop = "asyncio"')
