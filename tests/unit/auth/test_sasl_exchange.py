"""The exchange driver: lookups, password checks in a thread, rehash, throttling."""

from __future__ import annotations

import argon2
import pytest
from scramp import ScramClient

from mailward.auth.passwords import Credentials, make_credentials
from mailward.auth.sasl import (
    Challenge,
    ConnectionFacts,
    External,
    Failure,
    FailureReason,
    Plain,
    SaslExchange,
    Success,
    create_mechanism,
    password_login,
)
from mailward.auth.throttle import MemoryBackend, Throttle
from mailward.config.auth import AuthSettings

FACTS = ConnectionFacts("tls-only", True, None, None)
FAST = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Accounts:
    """A CredentialLookup over dicts."""

    def __init__(self) -> None:
        self.users: dict[str, Credentials] = {}
        self.certs: dict[str, str] = {}
        self.app_passwords: dict[tuple[str, str], str] = {}  # (user, password) -> label
        self.lookups: list[str] = []

    def add(self, username: str, password: str, iterations: int = 4096) -> Credentials:
        creds = make_credentials(password, hasher=FAST, iterations=iterations)
        self.users[username] = creds
        return creds

    async def credentials(self, username: str) -> Credentials | None:
        self.lookups.append(username)
        return self.users.get(username)

    async def check_app_password(self, username: str, password: str) -> str | None:
        return self.app_passwords.get((username, password))

    async def account_for_certificate(self, fingerprint: str) -> str | None:
        return self.certs.get(fingerprint)


@pytest.fixture
def accounts() -> Accounts:
    return Accounts()


@pytest.fixture
def fast_hasher() -> argon2.PasswordHasher:
    return FAST


async def test_plain_success_and_failure(accounts: Accounts, fast_hasher: argon2.PasswordHasher) -> None:
    accounts.add("alice", "s3cret")
    ok = SaslExchange(Plain(), accounts, hasher=fast_hasher)
    assert await ok.start(b"\x00alice\x00s3cret") == Success("alice", "alice")
    assert ok.rehashed is None
    bad = SaslExchange(Plain(), accounts, hasher=fast_hasher)
    outcome = await bad.start(b"\x00alice\x00nope")
    assert isinstance(outcome, Failure) and outcome.reason is FailureReason.BAD_CREDENTIALS
    unknown = SaslExchange(Plain(), accounts, hasher=fast_hasher)
    outcome = await unknown.start(b"\x00mallory\x00s3cret")
    assert isinstance(outcome, Failure) and outcome.reason is FailureReason.BAD_CREDENTIALS
    assert unknown.username == "mallory"


async def test_rehash_when_parameters_change(accounts: Accounts, fast_hasher: argon2.PasswordHasher) -> None:
    accounts.add("alice", "s3cret")
    stronger = argon2.PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    exchange = SaslExchange(Plain(), accounts, hasher=stronger)
    assert isinstance(await exchange.start(b"\x00alice\x00s3cret"), Success)
    assert exchange.rehashed is not None
    assert not stronger.check_needs_rehash(exchange.rehashed.argon2_hash)


async def test_login_command_path(accounts: Accounts, fast_hasher: argon2.PasswordHasher) -> None:
    accounts.add("alice", "pass word")
    mech, message = password_login("alice", "pass word")
    assert await SaslExchange(mech, accounts, hasher=fast_hasher).start(message) == Success("alice", "alice")


async def test_scram_through_the_exchange(accounts: Accounts) -> None:
    accounts.add("alice", "pencil")
    mech = create_mechanism("SCRAM-SHA-256", FACTS)
    assert mech is not None
    exchange = SaslExchange(mech, accounts)
    client = ScramClient(["SCRAM-SHA-256"], "alice", "pencil")
    challenge = await exchange.start(client.get_client_first().encode())
    assert isinstance(challenge, Challenge)
    client.set_server_first(challenge.data.decode())
    outcome = await exchange.respond(client.get_client_final().encode())
    assert isinstance(outcome, Success) and outcome.data is not None
    client.set_server_final(outcome.data.decode())


async def test_external_through_the_exchange(accounts: Accounts) -> None:
    accounts.certs["ab" * 32] = "alice"
    exchange = SaslExchange(External(client_fingerprint="ab" * 32), accounts)
    assert await exchange.start(b"") == Success("alice", "alice")
    exchange = SaslExchange(External(client_fingerprint="cd" * 32), accounts)
    outcome = await exchange.start(b"")
    assert isinstance(outcome, Failure) and outcome.reason is FailureReason.NO_CERTIFICATE


class Sleeps:
    """The exchange's sleep, recorded; it moves ``clock`` on as a real sleep would."""

    def __init__(self, clock: list[float] | None = None) -> None:
        self.slept: list[float] = []
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.clock is not None:
            self.clock[0] += seconds


async def test_throttled_exchange(accounts: Accounts, fast_hasher: argon2.PasswordHasher) -> None:
    accounts.add("alice", "s3cret")
    now = [0.0]
    settings = AuthSettings()
    throttle = Throttle(settings, MemoryBackend(), lambda: now[0])
    sleep = Sleeps(now)

    async def attempt(password: str) -> Success | Failure | Challenge:
        exchange = SaslExchange(Plain(), accounts, hasher=fast_hasher, throttle=throttle,
                                peer_ip="192.0.2.1", sleep=sleep)
        return await exchange.start(b"\x00alice\x00" + password.encode())

    for _ in range(4):
        assert isinstance(await attempt("wrong"), Failure)
    assert sleep.slept == [1.0]  # the 4th attempt waited: 3 failures before it
    assert isinstance(await attempt("s3cret"), Success)  # waited 2 s, then in
    assert sleep.slept == [1.0, 2.0]
    assert isinstance(await attempt("wrong"), Failure)  # streak reset by the success
    assert sleep.slept == [1.0, 2.0]
    for _ in range(5):
        await attempt("wrong")
    outcome = await attempt("s3cret")  # 10 failures from this address: refused unchecked
    assert isinstance(outcome, Failure) and outcome.reason is FailureReason.THROTTLED
    assert outcome.reason.temporary and not outcome.reason.protocol_error
    lookups = len(accounts.lookups)
    outcome = await attempt("s3cret")
    assert isinstance(outcome, Failure) and outcome.reason is FailureReason.THROTTLED
    assert len(accounts.lookups) == lookups  # no work done for a blocked address
    now[0] += 900
    assert isinstance(await attempt("s3cret"), Success)


async def test_malformed_is_not_counted(accounts: Accounts) -> None:
    throttle = Throttle(AuthSettings(ip_block_after=1), MemoryBackend(), lambda: 0.0)
    exchange = SaslExchange(Plain(), accounts, throttle=throttle, peer_ip="192.0.2.1")
    outcome = await exchange.start(b"garbage")
    assert isinstance(outcome, Failure) and outcome.reason is FailureReason.MALFORMED
    assert await throttle.blocked() == []


@pytest.mark.parametrize("name", ["PLAIN", "LOGIN"])
async def test_plaintext_mechanisms_refused_before_tls(name: str) -> None:
    assert create_mechanism(name, ConnectionFacts("tls-only", False)) is None


async def test_app_password_logs_in_with_plain_only(
    accounts: Accounts, fast_hasher: argon2.PasswordHasher
) -> None:
    accounts.add("alice", "main password")
    accounts.app_passwords[("alice", "abcd-efgh-ijkl-mnop")] = "phone"
    exchange = SaslExchange(Plain(), accounts, hasher=fast_hasher)
    outcome = await exchange.start(b"\x00alice\x00abcd-efgh-ijkl-mnop")
    assert isinstance(outcome, Success) and outcome.username == "alice"
    assert exchange.app_password == "phone"
    exchange = SaslExchange(Plain(), accounts, hasher=fast_hasher)
    outcome = await exchange.start(b"\x00alice\x00main password")
    assert isinstance(outcome, Success) and exchange.app_password is None
    exchange = SaslExchange(Plain(), accounts, hasher=fast_hasher)
    outcome = await exchange.start(b"\x00alice\x00abcd-efgh-ijkl-mnoq")
    assert isinstance(outcome, Failure) and outcome.reason is FailureReason.BAD_CREDENTIALS
