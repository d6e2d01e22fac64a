"""The typed IMAP commands, one module per command or small group, and the dispatch table.

Every command is a frozen dataclass with its ``tag``; :data:`PARSERS` maps a command name
to its parser, :data:`UID_COMMANDS` names those that take the ``UID`` prefix.
"""

from __future__ import annotations

from collections.abc import Callable

from mailward.protocols.imap.commands.append import Append, AppendMessage, parse_append
from mailward.protocols.imap.commands.base import INBOX, Command, Context, Param, normalise_mailbox
from mailward.protocols.imap.commands.fetch import (
    BinarySize,
    BodySection,
    Fetch,
    FetchAttribute,
    FetchItem,
    Partial,
    Section,
    parse_fetch,
)
from mailward.protocols.imap.commands.listing import List, Lsub, parse_list, parse_lsub
from mailward.protocols.imap.commands.mailbox import (
    Create,
    Delete,
    Examine,
    GetQuota,
    GetQuotaRoot,
    Namespace,
    Rename,
    Select,
    Status,
    Subscribe,
    Unsubscribe,
    parse_create,
    parse_delete,
    parse_examine,
    parse_getquota,
    parse_getquotaroot,
    parse_namespace,
    parse_rename,
    parse_select,
    parse_status,
    parse_subscribe,
    parse_unsubscribe,
)
from mailward.protocols.imap.commands.message import (
    Check,
    Close,
    Copy,
    Expunge,
    Move,
    Store,
    StoreAction,
    Unselect,
    parse_check,
    parse_close,
    parse_copy,
    parse_expunge,
    parse_move,
    parse_store,
    parse_unselect,
)
from mailward.protocols.imap.commands.search import Search, SearchKey, parse_search
from mailward.protocols.imap.commands.session import (
    Authenticate,
    Capability,
    Enable,
    Id,
    Idle,
    Login,
    Logout,
    Noop,
    SaslResponse,
    StartTls,
    is_done,
    parse_authenticate,
    parse_capability,
    parse_enable,
    parse_id,
    parse_idle,
    parse_login,
    parse_logout,
    parse_noop,
    parse_sasl_response,
    parse_starttls,
)
from mailward.protocols.imap.reader import Reader

Parser = Callable[[Reader, str, Context, bool], Command]

PARSERS: dict[str, Parser] = {
    "CAPABILITY": parse_capability,
    "NOOP": parse_noop,
    "LOGOUT": parse_logout,
    "STARTTLS": parse_starttls,
    "AUTHENTICATE": parse_authenticate,
    "LOGIN": parse_login,
    "ENABLE": parse_enable,
    "ID": parse_id,
    "IDLE": parse_idle,
    "SELECT": parse_select,
    "EXAMINE": parse_examine,
    "CREATE": parse_create,
    "DELETE": parse_delete,
    "RENAME": parse_rename,
    "SUBSCRIBE": parse_subscribe,
    "UNSUBSCRIBE": parse_unsubscribe,
    "LIST": parse_list,
    "LSUB": parse_lsub,
    "NAMESPACE": parse_namespace,
    "STATUS": parse_status,
    "APPEND": parse_append,
    "GETQUOTA": parse_getquota,
    "GETQUOTAROOT": parse_getquotaroot,
    "CHECK": parse_check,
    "CLOSE": parse_close,
    "UNSELECT": parse_unselect,
    "EXPUNGE": parse_expunge,
    "SEARCH": parse_search,
    "FETCH": parse_fetch,
    "STORE": parse_store,
    "COPY": parse_copy,
    "MOVE": parse_move,
}
# RFC 9051 6.4.9, UIDPLUS RFC 4315 2.1 (UID EXPUNGE), MOVE RFC 6851 3.2
UID_COMMANDS = frozenset({"COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE"})

__all__ = [
    "INBOX", "PARSERS", "UID_COMMANDS", "Append", "AppendMessage", "Authenticate", "BinarySize",
    "BodySection", "Capability", "Check", "Close", "Command", "Context", "Copy", "Create", "Delete",
    "Enable", "Examine", "Expunge", "Fetch", "FetchAttribute", "FetchItem", "GetQuota", "GetQuotaRoot",
    "Id", "Idle", "List", "Login", "Logout", "Lsub", "Move", "Namespace", "Noop", "Param", "Partial",
    "Rename", "SaslResponse", "Search", "SearchKey", "Section", "Select", "StartTls", "Status", "Store",
    "StoreAction", "Subscribe", "Unselect", "Unsubscribe", "is_done", "normalise_mailbox",
    "parse_sasl_response",
]
