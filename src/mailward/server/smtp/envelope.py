"""MAIL FROM and RCPT TO decisions: who may send, who we take mail for, and why not.

Roles (the listener's ``role``):

- ``mx`` takes mail for local recipients from anyone and relays nothing: a
  recipient in another domain gets 554 5.7.1, whatever the address form (source
  routes are dropped by the core, so ``<@a:u@remote>`` is ``u@remote``; the
  percent hack and bang paths in a local domain are ROUTING and refused).
- ``submission`` needs AUTH before MAIL (the core enforces it); the envelope
  sender must be an address the user may send as, or the null sender; local recipients are treated as
  on mx; other domains get 451 4.3.0 until the outbound relay exists: refused for
  now, never accepted and dropped.

Recipients are resolved when they are given (RCPT), so an unknown user gets 550
5.1.1 at once and nothing is ever accepted and then bounced.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from mailward.delivery import local
from mailward.delivery.recipients import Kind, Resolution
from mailward.protocols.smtp import replies as R
from mailward.protocols.smtp.address import Address
from mailward.protocols.smtp.events import MailFrom, RcptTo
from mailward.protocols.smtp.replies import Reply
from mailward.server.services import Services
from mailward.store.interface import Account

MX = "mx"
SUBMISSION = "submission"
ROLES = (MX, SUBMISSION)


@dataclass
class Envelope:
    """One mail transaction, from MAIL to the end of the message (or a reset)."""

    sender: Address | None
    smtputf8: bool
    declared_size: int | None
    queue_id: str = field(default_factory=lambda: f"{random.getrandbits(64):016X}")  # a name for logs
    recipients: list[str] = field(default_factory=list)
    accounts: dict[int, Account] = field(default_factory=dict)

    @property
    def sender_text(self) -> str:
        return f"<{'' if self.sender is None else self.sender}>"


class EnvelopePolicy:
    def __init__(self, services: Services, role: str, log: logging.LoggerAdapter[logging.Logger]) -> None:
        self._services = services
        self._role = role
        self._log = log

    async def mail_from(self, event: MailFrom, user: Account | None) -> tuple[Reply, Envelope | None]:
        """The reply to MAIL, and the transaction it opens when positive."""
        if self._role == SUBMISSION:
            # the core allows MAIL on submission only after AUTH
            if user is None:
                return R.AUTH_REQUIRED, None
            # The null sender names nobody, so there is no one to impersonate; mail
            # programs need it for read receipts (RFC 8098 3) and delivery reports
            # (RFC 3464), which must not be answered with a bounce.
            if event.sender is not None and not await self._services.resolver.may_send_as(
                user, str(event.sender)
            ):
                self._log.info("MAIL refused: %s may not send as <%s>", user.name, event.sender)
                return R.SENDER_NOT_OWNED, None
        return R.SENDER_OK, Envelope(event.sender, event.smtputf8, event.size)

    async def rcpt_to(self, event: RcptTo, envelope: Envelope) -> Reply:
        """The reply to RCPT; a positive one adds the recipient's accounts to ``envelope``."""
        recipient = event.recipient
        if event.postmaster:
            domain = await self._postmaster_domain()
            if domain is None:
                self._log.warning("RCPT <Postmaster> refused: no local domain configured")
                return R.MAILBOX_UNAVAILABLE
            recipient = Address("postmaster", domain)
        resolution = await self._services.resolver.resolve(recipient.local_part, recipient.domain)
        reply = await self._decide(resolution, envelope)
        if reply.positive:
            envelope.recipients.append(str(recipient))
            for account in resolution.accounts:
                envelope.accounts.setdefault(account.id, account)
        else:
            self._log.info(
                "RCPT <%s> refused: %s %s %s", recipient, reply.code, reply.status, resolution.kind.value
            )
        return reply

    async def _decide(self, resolution: Resolution, envelope: Envelope) -> Reply:
        kind = resolution.kind
        if kind is Kind.REMOTE:
            # never relay on mx, with or without AUTH; submission waits for the relay issue
            return R.RELAY_DENIED if self._role == MX else R.RELAY_NOT_AVAILABLE
        if kind is Kind.UNKNOWN:
            return R.MAILBOX_UNAVAILABLE
        if kind is Kind.DISABLED:
            return R.MAILBOX_DISABLED
        if kind is Kind.ROUTING:
            return R.ROUTING_REFUSED
        if kind is Kind.LOOP:
            self._log.error("RCPT <%s>: the aliases loop or expand too far: fix them", resolution.address)
            return R.RECIPIENT_LOOP
        if resolution.forward:
            # Strict on purpose: delivering to the local accounts and skipping the forward
            # would lose the forwarded copy silently, and accepting would promise a delivery
            # mailward cannot make until the outbound relay exists. 451: the sender retries.
            return R.FORWARD_NOT_AVAILABLE
        full = await local.over_quota(self._services.store, resolution.accounts, envelope.declared_size or 0)
        if full:
            return R.MAILBOX_FULL
        return R.RECIPIENT_OK

    async def _postmaster_domain(self) -> str | None:
        """The local domain whose postmaster gets ``RCPT TO:<Postmaster>``: the server's
        own name or the domain it is in, else the first local domain."""
        domains = sorted(d.name for d in await self._services.store.list_domains())
        hostname = self._services.config.server_name.lower().rstrip(".")
        for domain in sorted(domains, key=len, reverse=True):
            if hostname == domain or hostname.endswith("." + domain):
                return domain
        return domains[0] if domains else None
