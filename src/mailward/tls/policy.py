"""The TLS policy language: protocol lists, cipher lists, groups, profiles.

``protocols`` is a Momentum-style list applied left to right, starting from the
empty set: ``+ALL:-SSLv2:-SSLv3:-TLSv1.0:-TLSv1.1`` means "every version, then
take away SSLv2, SSLv3, TLS 1.0 and TLS 1.1". ``ALL`` is every version this
server can speak (TLS 1.0 to 1.3); ``-SSLv2`` and ``-SSLv3`` are accepted so that
lists written for other servers keep working, but asking for them is an error.

OpenSSL takes a minimum and a maximum version, not a set, so the result must be
one unbroken range: ``+TLSv1.0:+TLSv1.3`` cannot be expressed and is an error.

This module is pure: it turns settings into a :class:`Policy` (or problems) and
never loads files.
"""

from __future__ import annotations

import difflib
import re
import ssl
from dataclasses import dataclass

from mailward.config.problems import Problem, Severity
from mailward.config.tls import TlsSettings

# the versions in order; index = rank
VERSIONS: tuple[str, ...] = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_BROKEN = ("SSLv2", "SSLv3")
_ALIASES = {"TLSV1": "TLSv1.0", "ALL": "ALL"}
_TOKENS = {t.upper(): t for t in (*VERSIONS, *_BROKEN)}
_LEGACY = frozenset({"TLSv1.0", "TLSv1.1"})
SSL_VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
DEFAULT_PROTOCOLS = "+ALL:-SSLv2:-SSLv3:-TLSv1.0:-TLSv1.1"

# Mozilla server-side TLS guidelines 5.7, "intermediate": forward-secret AEAD
# suites only, ECDHE first; DHE-RSA only when dhe = true.
INTERMEDIATE_ECDHE = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)
INTERMEDIATE_DHE = "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
# TLS 1.0/1.1 have no AEAD suites: with the legacy opt-in, add the forward-secret
# CBC suites of Mozilla's "old" profile (ECDHE only).
LEGACY_ECDHE = "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA"
# never, whatever the admin writes: no authentication, no encryption, export, RC4, MD5
_ALWAYS_EXCLUDED = "!aNULL:!eNULL:!EXPORT:!RC4:!MD5:!DES:!3DES:!PSK:!SRP"
# RFC 8446 section 9.1 and Mozilla's list: the TLS 1.3 suites we allow
TLS13_SUITES: tuple[str, ...] = (
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
)
# groups OpenSSL knows, by the names admins write (ANSI X9.62, SECG and RFC 8446 names)
KNOWN_GROUPS: dict[str, str] = {
    "x25519": "X25519",
    "x448": "X448",
    "prime256v1": "P-256",
    "secp256r1": "P-256",
    "p-256": "P-256",
    "secp384r1": "P-384",
    "p-384": "P-384",
    "secp521r1": "P-521",
    "p-521": "P-521",
    "ffdhe2048": "ffdhe2048",
    "ffdhe3072": "ffdhe3072",
    "ffdhe4096": "ffdhe4096",
}
# what ssl.SSLContext.set_ecdh_curve() accepts for the same group (None: it cannot)
STDLIB_CURVE: dict[str, str | None] = {
    "X25519": None,
    "X448": None,
    "P-256": "prime256v1",
    "P-384": "secp384r1",
    "P-521": "secp521r1",
    "ffdhe2048": None,
    "ffdhe3072": None,
    "ffdhe4096": None,
}


@dataclass(frozen=True)
class VersionRange:
    minimum: str
    maximum: str

    @property
    def names(self) -> tuple[str, ...]:
        return VERSIONS[VERSIONS.index(self.minimum) : VERSIONS.index(self.maximum) + 1]

    @property
    def legacy(self) -> bool:
        return any(v in _LEGACY for v in self.names)


@dataclass(frozen=True)
class Policy:
    """What an SSLContext is built from: resolved, validated, file-free."""

    versions: VersionRange
    ciphers: str  # TLS 1.2 (and below) cipher string for set_ciphers()
    ciphersuites: tuple[str, ...]  # TLS 1.3 suites
    groups: tuple[str, ...]  # OpenSSL group names, most preferred first
    dhe: bool
    modern: bool


def _items(token: str) -> list[str]:
    """``token`` cut before each + or -, each piece with a sign (+ where it had none)."""
    pieces = re.findall(r"[+-]?[^+-]+", token)
    return [piece if piece[0] in "+-" else f"+{piece}" for piece in pieces]


def parse_protocols(
    text: str, key: str, *, allow_legacy: bool = False
) -> tuple[VersionRange | None, list[Problem]]:
    """Parse a protocols list into a version range.

    Returns ``(range, problems)``; ``range`` is ``None`` when there is an error.
    Warnings (TLS 1.0/1.1 with the opt-in) come with a range.
    """
    enabled: set[str] = set()
    problems: list[Problem] = []
    for raw in text.split(":"):
        token = raw.strip()
        if not token:
            problems.append(Problem(key, f'"{text}" has an empty item', "remove the doubled or trailing ':'"))
            continue
        sign, name = token[0], token[1:].strip()
        items = _items(token)
        if len(items) > 1:  # "TLSv1.2+TLSv1.3": items joined without their ':'
            problems.append(
                Problem(key, f'"{token}" is {len(items)} items without ":" between them',
                        f'write "{":".join(items)}"')
            )
            continue
        if sign not in "+-":
            problems.append(
                Problem(
                    key,
                    f'"{token}" has no + or - in front',
                    f'write "+{token}" to add it or "-{token}" to remove it',
                )
            )
            continue
        canonical = _canonical(name)
        if canonical is None:
            close = difflib.get_close_matches(name, ["ALL", *VERSIONS, *_BROKEN, "TLSv1"], n=1)
            fix = (
                f'did you mean "{sign}{close[0]}"?'
                if close
                else "use ALL, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3"
            )
            problems.append(Problem(key, f'unknown protocol "{name}" in "{text}"', fix))
            continue
        if canonical in _BROKEN:
            if sign == "+":
                # RFC 6176 (SSLv2) and RFC 7568 (SSLv3, POODLE): must not be used
                problems.append(
                    Problem(
                        key,
                        f"{canonical} is broken (SSLv3: POODLE, RFC 7568; SSLv2: RFC 6176) and not supported",
                        f'remove "+{canonical}"',
                    )
                )
            continue  # "-SSLv3": nothing to take away, fine
        members = VERSIONS if canonical == "ALL" else (canonical,)
        if sign == "+":
            enabled.update(members)
        else:
            enabled.difference_update(members)
    if problems:
        return None, problems
    if not enabled:
        return None, [
            Problem(key, f'"{text}" leaves no protocol version enabled', f'use "{DEFAULT_PROTOCOLS}"')
        ]
    ranks = sorted(VERSIONS.index(v) for v in enabled)
    if ranks != list(range(ranks[0], ranks[-1] + 1)):
        missing = [VERSIONS[r] for r in range(ranks[0], ranks[-1]) if r not in ranks]
        return None, [
            Problem(
                key,
                f'"{text}" enables {", ".join(VERSIONS[r] for r in ranks)} but not {", ".join(missing)} '
                "in between: OpenSSL can only enable one unbroken range of versions",
                f"enable {', '.join(missing)} too, or drop the versions below them",
            )
        ]
    versions = VersionRange(VERSIONS[ranks[0]], VERSIONS[ranks[-1]])
    if versions.legacy:
        old = ", ".join(v for v in versions.names if v in _LEGACY)
        if not allow_legacy:
            # RFC 8996: TLS 1.0 and 1.1 are deprecated
            return None, [
                Problem(
                    key,
                    f'"{text}" enables {old}, deprecated by RFC 8996',
                    'add ":-TLSv1.0:-TLSv1.1", or set allow_legacy_tls = true if very old clients need them',
                )
            ]
        problems.append(
            Problem(
                key,
                f"{old} enabled (allow_legacy_tls = true): deprecated by RFC 8996, "
                "and OpenSSL needs security level 0 for them",
                "remove them as soon as the old clients are gone",
                Severity.WARNING,
            )
        )
    return versions, problems


def _canonical(name: str) -> str | None:
    upper = name.upper()
    if upper in _ALIASES:
        return _ALIASES[upper]
    return _TOKENS.get(upper)


def resolve_policy(settings: TlsSettings, prefix: str) -> tuple[Policy | None, list[Problem]]:
    """Turn ``settings`` into a :class:`Policy`, checking every value; ``prefix`` names the table."""
    problems: list[Problem] = []
    versions, found = parse_protocols(
        settings.protocols, f"{prefix}.protocols", allow_legacy=settings.allow_legacy_tls
    )
    problems.extend(found)
    modern = settings.profile == "modern"
    if versions is not None and modern:
        # Mozilla "modern": TLS 1.3 only
        if "TLSv1.3" not in versions.names:
            problems.append(
                Problem(
                    f"{prefix}.protocols",
                    'profile = "modern" is TLS 1.3 only, and protocols disables TLSv1.3',
                    'add "+TLSv1.3", or use profile = "intermediate"',
                )
            )
            versions = None
        else:
            versions = VersionRange("TLSv1.3", "TLSv1.3")
    ciphers = _cipher_string(settings, versions, prefix, problems)
    suites = _ciphersuites(settings.ciphersuites, f"{prefix}.ciphersuites", problems)
    groups = parse_groups(settings.curves, f"{prefix}.curves", problems)
    if any(p.severity is Severity.ERROR for p in problems) or versions is None:
        return None, problems
    assert ciphers is not None and suites is not None and groups is not None
    return Policy(versions, ciphers, suites, groups, settings.dhe and not modern, modern), problems


def _cipher_string(
    settings: TlsSettings, versions: VersionRange | None, prefix: str, problems: list[Problem]
) -> str | None:
    key = f"{prefix}.ciphers"
    if settings.ciphers.strip():
        base = settings.ciphers.strip()
    else:
        base = INTERMEDIATE_ECDHE
        if settings.dhe:
            base += ":" + INTERMEDIATE_DHE
        if versions is not None and versions.legacy:
            base += ":" + LEGACY_ECDHE
    if "@SECLEVEL" in base.upper():
        problems.append(
            Problem(key, "sets @SECLEVEL itself", "remove @SECLEVEL: mailward sets the security level")
        )
        return None
    text = base + ":" + _ALWAYS_EXCLUDED
    if not settings.dhe:
        text += ":!kDHE"  # DHE only with dhe = true (tls_enable_dhe_ciphers)
    if versions is not None and versions.legacy:
        # OpenSSL 3: TLS 1.0/1.1 need SHA-1 signatures, allowed only at level 0
        text += ":@SECLEVEL=0"
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.set_ciphers(text)
    except ssl.SSLError:
        problems.append(
            Problem(
                key,
                f'"{settings.ciphers}" selects no usable cipher',
                f'leave it empty, or use "{INTERMEDIATE_ECDHE}"',
            )
        )
        return None
    tls12 = [c for c in probe.get_ciphers() if c["protocol"] != "TLSv1.3"]
    if not tls12:
        problems.append(
            Problem(
                key,
                f'"{settings.ciphers}" selects no TLS 1.2 cipher',
                f'leave it empty, or use "{INTERMEDIATE_ECDHE}"',
            )
        )
        return None
    weak = sorted({c["name"] for c in tls12 if c.get("kea") == "kx-rsa"})
    if weak:
        problems.append(
            Problem(
                key,
                f"includes suites without forward secrecy: {', '.join(weak)}",
                'add ":!kRSA", or leave ciphers empty',
                Severity.WARNING,
            )
        )
    return text


def _ciphersuites(text: str, key: str, problems: list[Problem]) -> tuple[str, ...] | None:
    if not text.strip():
        return TLS13_SUITES
    suites = tuple(s.strip() for s in text.split(":"))
    unknown = [s for s in suites if s not in TLS13_SUITES]
    if unknown or not suites:
        problems.append(
            Problem(
                key,
                f"unknown or unsupported TLS 1.3 suite {', '.join(unknown) or '(empty)'}",
                f"use some of {':'.join(TLS13_SUITES)}",
            )
        )
        return None
    return suites


def parse_groups(text: str, key: str, problems: list[Problem]) -> tuple[str, ...] | None:
    """Parse ``curves`` into OpenSSL group names, most preferred first."""
    names = [n.strip() for n in text.split(":") if n.strip()]
    if not names:
        problems.append(Problem(key, "lists no group", 'use "X25519:prime256v1:secp384r1"'))
        return None
    groups: list[str] = []
    for name in names:
        group = KNOWN_GROUPS.get(name.lower())
        if group is None:
            problems.append(
                Problem(
                    key, f'unknown group "{name}"', "use X25519, prime256v1, secp384r1, secp521r1 or X448"
                )
            )
            return None
        if group not in groups:
            groups.append(group)
    return tuple(groups)
