"""The protocols this build serves: the one place they are registered.

:func:`mailward.server.registry.protocols` calls :func:`register_all`, so every
command that loads a configuration (``serve``, ``init``, ``config check`` and the
admin commands) knows the same protocols.
"""

from __future__ import annotations

from mailward.server.imap import register as register_imap
from mailward.server.pop3 import register as register_pop3
from mailward.server.smtp import register as register_smtp


def register_all() -> None:
    """Register every built-in protocol; calling it again changes nothing."""
    register_smtp()
    register_imap()
    register_pop3()
