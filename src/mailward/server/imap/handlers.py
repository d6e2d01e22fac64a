"""The one table: which handler runs each IMAP command (the state table that says when
a command may run is :data:`mailward.protocols.imap.state.COMMANDS_BY_STATE`)."""

from __future__ import annotations

from mailward.protocols.imap import commands as c
from mailward.server.imap import auth, fetch, mailboxes, messages, search, selected
from mailward.server.imap.session import Handler

HANDLERS: dict[type[c.Command], Handler] = {
    c.Capability: auth.capability,
    c.Noop: auth.noop,
    c.Logout: auth.logout,
    c.Id: auth.ident,
    c.Enable: auth.enable,
    c.StartTls: auth.starttls,
    c.Login: auth.login,
    c.Authenticate: auth.authenticate,
    c.Create: mailboxes.create,
    c.Delete: mailboxes.delete,
    c.Rename: mailboxes.rename,
    c.Subscribe: mailboxes.subscribe,
    c.Unsubscribe: mailboxes.unsubscribe,
    c.List: mailboxes.list_,
    c.Lsub: mailboxes.lsub,
    c.Namespace: mailboxes.namespace,
    c.Status: mailboxes.status,
    c.GetQuota: mailboxes.getquota,
    c.GetQuotaRoot: mailboxes.getquotaroot,
    c.Select: selected.select,
    c.Examine: selected.select,
    c.Close: selected.close,
    c.Unselect: selected.unselect,
    c.Expunge: selected.expunge,
    c.Check: selected.check,
    c.Idle: selected.idle,
    c.Fetch: fetch.fetch,
    c.Search: search.search,
    c.Store: messages.store,
    c.Copy: messages.copy,
    c.Move: messages.move,
    c.Append: messages.append,
}
