"""``mailward cert``: create, show, renew and pin certificates; write DH parameters.

One certificate serves every protocol: several listeners may name the same pair.
Keys are written mode 0600 whatever the umask, every file atomically, so a
running server picks up a renewed pair without a restart and never sees half.
With ``--passphrase secret:NAME`` a key is also encrypted at rest (PKCS#8) with
the value of that secret; a passphrase itself is never taken from the command
line, where ``ps`` and the shell history would show it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from mailward import files
from mailward.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    add_config_argument,
    fail,
    load_config,
    print_usage,
)
from mailward.config.model import Config
from mailward.config.tls import TlsSettings
from mailward.secrets import PREFIX, SecretError, check_name
from mailward.server.preflight import secret_source
from mailward.tls import certs
from mailward.tls.probe import (
    PinResult,
    ProbeError,
    check_pin,
    describe_der,
    fetch_certificate,
    spki_record,
    split_host_port,
)

EXIT_PIN_MISMATCH = 3
DEFAULT_DAYS = 365


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "cert",
        help="create, show, renew and pin TLS certificates",
        description="Create, show, renew and pin TLS certificates; write DH parameters.",
    )
    sub = parser.add_subparsers(title="cert commands", metavar="COMMAND")
    parser.set_defaults(func=lambda _args: print_usage(parser))
    _register_create(sub)
    _register_show(sub)
    _register_renew(sub)
    _register_fingerprint(sub)
    _register_dhparams(sub)


def _days(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 3650:
        raise argparse.ArgumentTypeError("use 1 to 3650 days")
    return value


def _secret_ref(text: str) -> str:
    """``secret:NAME`` only; the message never repeats what was given (it may be the password)."""
    refusal = (
        "give secret:NAME, never the passphrase itself (ps and the shell history would show it): "
        "store it with `mailward secret set NAME`"
    )
    if not text.startswith(PREFIX):
        raise argparse.ArgumentTypeError(refusal)
    try:
        check_name(text[len(PREFIX) :])
    except SecretError:
        raise argparse.ArgumentTypeError(refusal) from None
    return text


def _add_passphrase_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--passphrase",
        type=_secret_ref,
        metavar="secret:NAME",
        help=f"{what} (the secret's value, from `mailward secret set NAME`)",
    )


def _resolve(config: Config, ref: str, where: str) -> str:
    """The value of ``secret:NAME``; SecretError says which secret and how to set it."""
    return secret_source(config).resolve(ref, where)


# --- create ----------------------------------------------------------------------


def _register_create(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "create",
        help="create a self-signed certificate",
        description="Create a self-signed server certificate (SANs, serverAuth, CA:false). "
        "Without --out, writes the [tls] certificate and key of the config (with --rsa, its "
        "rsa_certificate and rsa_key).",
    )
    add_config_argument(p)
    p.add_argument("--domain", help="the main name (default: hostname from the config)")
    p.add_argument("--alt", action="append", default=[], metavar="NAME", help="another name (repeatable)")
    p.add_argument("--days", type=_days, default=DEFAULT_DAYS, help="validity in days (default: 365)")
    p.add_argument(
        "--key-type", choices=certs.KEY_TYPES, help="default: ecdsa-p256 (rsa-2048 with --rsa)"
    )
    p.add_argument("--out", metavar="PREFIX", help="write PREFIX.crt and PREFIX.key")
    p.add_argument(
        "--rsa",
        action="store_true",
        help="the RSA certificate served beside the ECDSA one: [tls] rsa_certificate and rsa_key",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    _add_passphrase_argument(p, "encrypt the key with this secret")
    p.set_defaults(func=cmd_create)


def _config_path(config: Config, path: str) -> Path:
    """A path from the config; relative ones start at data_dir (as the loader does)."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else Path(config.data_dir) / candidate


def cmd_create(args: argparse.Namespace) -> int:
    config: Config | None = None
    if args.domain is None or args.out is None or args.passphrase:
        config = load_config(args).config  # with --passphrase: the secret store is the config's
    domain = args.domain or (config.server_name if config else "")
    if not domain:
        return fail("no domain: give --domain NAME or set hostname in the config")
    key_type: certs.KeyType = args.key_type or ("rsa-2048" if args.rsa else "ecdsa-p256")
    if args.rsa and not key_type.startswith("rsa-"):
        return fail(f"--rsa is the RSA certificate: give --key-type rsa-2048 or rsa-3072, not {key_type}")
    configured = ""
    if args.out is not None:
        cert_path, key_path = certs.pair_paths(Path(args.out))
    elif args.rsa:
        assert config is not None
        if not (config.tls.rsa_certificate and config.tls.rsa_key):
            return fail(
                'the config names no RSA pair: add rsa_certificate = "certs/server-rsa.crt" and '
                'rsa_key = "certs/server-rsa.key" to [tls], or give --out PREFIX'
            )
        cert_path = _config_path(config, config.tls.rsa_certificate)
        key_path = _config_path(config, config.tls.rsa_key)
        configured = config.tls.rsa_key_passphrase
    else:
        assert config is not None
        cert_path = _config_path(config, config.tls.certificate)
        key_path = _config_path(config, config.tls.key)
        configured = config.tls.key_passphrase
    existing = [str(p) for p in (cert_path, key_path) if p.exists()]
    if existing and not args.force:
        return fail(f"{' and '.join(existing)} already exist: add --force to replace them")
    ref = args.passphrase or configured
    passphrase_key = "tls.rsa_key_passphrase" if args.rsa and args.out is None else "tls.key_passphrase"
    passphrase: str | None = None
    if ref:
        assert config is not None
        try:
            passphrase = _resolve(config, ref, "--passphrase" if args.passphrase else passphrase_key)
        except SecretError as exc:
            return fail(str(exc))
    for directory in {cert_path.parent, key_path.parent}:
        directory.mkdir(parents=True, exist_ok=True)
    key = certs.new_key(key_type)
    try:
        cert = certs.self_signed(key, [domain, *args.alt], args.days)
    except ValueError as exc:
        return fail(f"cannot create the certificate: {exc}")
    certs.write_pair(cert_path, key_path, cert, key, passphrase)
    print(f"wrote {cert_path} (0644) and {key_path} (0600{_encrypted(ref)})")
    if ref and ref != configured:
        print(f'serve it with {passphrase_key.removeprefix("tls.")} = "{ref}"')
    _warn_other_passphrase(ref, configured, passphrase_key)
    _print_info(certs.describe(cert))
    return EXIT_OK


def _encrypted(ref: str) -> str:
    return f", encrypted with {ref}" if ref else ""


def _warn_other_passphrase(ref: str, configured: str, key: str) -> None:
    if configured and ref != configured:
        print(
            f'mailward: warning: {key} is "{configured}": set it to "{ref}", '
            "or the server cannot read the key",
            file=sys.stderr,
        )


# --- show ------------------------------------------------------------------------


def _register_show(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "show", help="show a certificate", description="Show a certificate file or a listener's."
    )
    add_config_argument(p)
    p.add_argument("file", nargs="?", help="a PEM certificate file")
    p.add_argument("--listener", metavar="NAME", help="the certificate of this listener")
    p.set_defaults(func=cmd_show)


def _listener_tls(args: argparse.Namespace) -> tuple[Config, TlsSettings] | str:
    config = load_config(args).config
    for listener in config.listener:
        if listener.name == args.listener:
            return config, listener.tls_options
    names = ", ".join(listener.name for listener in config.listener) or "none"
    return f'no listener named "{args.listener}" (listeners: {names})'


def _read_chain(path: Path) -> list[Any] | str:
    try:
        return certs.load_chain(path.read_bytes())
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    except ValueError:
        return f"{path} holds no PEM certificate"


def cmd_show(args: argparse.Namespace) -> int:
    """One file, or every certificate a listener serves: its default one (and its RSA one),
    then those its ``sni`` tables choose by name (each after a blank line)."""
    if (args.file is None) == (args.listener is None):
        return fail("name a certificate FILE or --listener NAME (one of them)")
    if args.listener is None:
        return _show_file(Path(args.file))
    found = _listener_tls(args)
    if isinstance(found, str):
        return fail(found)
    config, tls = found
    status = _show_file(_config_path(config, tls.certificate))
    if tls.rsa_certificate:
        print()
        print("beside it:   rsa_certificate, for clients without ECDSA")
        status = max(status, _show_file(_config_path(config, tls.rsa_certificate)))
    for extra in tls.sni:
        for path in (extra.certificate, extra.rsa_certificate):
            if path:
                print()
                print(f"for SNI:     {', '.join(extra.names)}")
                status = max(status, _show_file(_config_path(config, path)))
    return status


def _show_file(path: Path) -> int:
    chain = _read_chain(path)
    if isinstance(chain, str):
        return fail(chain)
    print(f"file:        {path}")
    _print_info(certs.describe(chain[0]))
    if len(chain) > 1:
        issuers = ", ".join(c.subject.rfc4514_string() for c in chain[1:])
        print(f"chain:       {len(chain) - 1} more certificate(s): {issuers}")
    return EXIT_OK


def _print_info(info: certs.CertInfo) -> None:
    for line in info.lines():
        print(line)


# --- renew -----------------------------------------------------------------------


def _register_renew(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "renew",
        help="renew a self-signed certificate",
        description="A new self-signed certificate for the same names and key (or --new-key), "
        "written atomically: a running server picks it up.",
    )
    add_config_argument(p)
    p.add_argument("file", nargs="?", help="the certificate file (its key: same name ending .key)")
    p.add_argument("--listener", metavar="NAME", help="the certificate of this listener")
    p.add_argument("--rsa", action="store_true", help="with --listener: its rsa_certificate and rsa_key")
    p.add_argument("--key", metavar="FILE", help="the key file, when not FILE with .key")
    p.add_argument("--new-key", action="store_true", help="generate a new key of the same type")
    p.add_argument("--days", type=_days, default=DEFAULT_DAYS, help="validity in days (default: 365)")
    p.add_argument("--force", action="store_true", help="renew even a certificate a CA issued")
    _add_passphrase_argument(
        p, "the key's passphrase (default: the listener's key_passphrase); a --new-key is encrypted with it"
    )
    p.set_defaults(func=cmd_renew)


def cmd_renew(args: argparse.Namespace) -> int:
    if (args.file is None) == (args.listener is None):
        return fail("name a certificate FILE or --listener NAME (one of them)")
    config: Config | None = None
    configured = ""  # the listener's key_passphrase
    if args.listener is not None:
        found = _listener_tls(args)
        if isinstance(found, str):
            return fail(found)
        config, tls = found
        if args.rsa:
            if not tls.rsa_certificate:
                return fail(f"listener {args.listener} has no rsa_certificate")
            cert_path, key_path = _config_path(config, tls.rsa_certificate), _config_path(config, tls.rsa_key)
            configured = tls.rsa_key_passphrase
        else:
            cert_path, key_path = _config_path(config, tls.certificate), _config_path(config, tls.key)
            configured = tls.key_passphrase
    elif args.rsa:
        return fail("--rsa goes with --listener NAME; for a FILE, name the RSA certificate itself")
    else:
        cert_path = Path(args.file)
        key_path = cert_path.with_suffix(".key")
        if args.passphrase:
            config = load_config(args).config  # the secret store is the config's
    if args.key:
        key_path = Path(args.key)
    chain = _read_chain(cert_path)
    if isinstance(chain, str):
        return fail(chain)
    old = chain[0]
    if old.issuer != old.subject and not args.force:
        return fail(
            f"{cert_path} was issued by {old.issuer.rfc4514_string()}: renew it with that CA "
            "(or add --force to replace it with a self-signed one)"
        )
    ref = args.passphrase or configured
    slot = "rsa_" if args.rsa else ""
    where = "--passphrase" if args.passphrase else f"listener {args.listener}: {slot}key_passphrase"
    loaded = _load_old_key(config, key_path, ref, where)
    if isinstance(loaded, str):
        return fail(loaded)
    key, passphrase, plain = loaded
    if certs.public_der(key) != certs.public_der(old):
        return fail(f"{key_path} is not the key of {cert_path}: name the right one with --key")
    new_key: certs.PrivateKey | None = None
    if args.new_key:
        new_key = certs.new_key(_key_type_of(key))
        key = new_key
    cert = certs.renewed(old, key, args.days)
    # a new key is encrypted whenever a passphrase is in effect; the old one is left as it is
    certs.write_pair(cert_path, key_path, cert, new_key, passphrase)
    if new_key:
        print(f"renewed {cert_path} with a new key in {key_path}{_encrypted(ref)}")
    else:
        print(f"renewed {cert_path} (same key, {key_path})")
    if plain and not new_key:
        print(
            f"mailward: warning: {ref} is given but {key_path} is not encrypted, and it stays so: "
            "add --new-key to write an encrypted key",
            file=sys.stderr,
        )
    _warn_other_passphrase(ref, configured, f"listener {args.listener}: {slot}key_passphrase")
    _print_info(certs.describe(cert))
    return EXIT_OK


def _load_old_key(
    config: Config | None, key_path: Path, ref: str, where: str
) -> tuple[certs.PrivateKey, str | None, bool] | str:
    """The key, the passphrase in effect, and whether the key was plain despite one; or the error."""
    passphrase: str | None = None
    if ref:
        assert config is not None
        try:
            passphrase = _resolve(config, ref, where)
        except SecretError as exc:
            return str(exc)
    try:
        data = key_path.read_bytes()
    except OSError as exc:
        return f"cannot read {key_path}: {exc.strerror}"
    try:
        return certs.load_key(data, passphrase), passphrase, False
    except certs.KeyPassphraseNeeded:
        return f"{key_path} is encrypted: give --passphrase secret:NAME, the secret it is encrypted with"
    except certs.KeyNotEncrypted as exc:
        return exc.key, passphrase, True
    except ValueError:
        if certs.is_encrypted(data):
            return f"{key_path} cannot be decrypted with {ref}: give the secret it is encrypted with"
        return f"{key_path} holds no usable PEM private key"


def _key_type_of(key: certs.PrivateKey) -> certs.KeyType:
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa-2048" if key.key_size <= 2048 else "rsa-3072"
    return "ecdsa-p256"


# --- fingerprint -----------------------------------------------------------------


def _register_fingerprint(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "fingerprint",
        help="show (and pin) a server's certificate",
        description="Connect to a server, show its certificate's fingerprints and validity. "
        "With --pin FILE, record its public key (SPKI SHA-256) on first use and exit 3 when "
        "it changes; records of certificate fingerprints written by older versions are still "
        "read.",
    )
    p.add_argument("address", metavar="HOST:PORT")
    p.add_argument("--starttls", choices=("smtp", "imap", "pop3"), help="speak STARTTLS first")
    p.add_argument("--pin", metavar="FILE", help="trust-on-first-use record of the server's key")
    p.add_argument(
        "--pin-kind",
        choices=("spki", "certificate"),
        default="spki",
        help="what a new record pins: spki (the public key, default: a renewal that keeps the key "
        "still matches) or certificate (its fingerprint: every renewal trips it)",
    )
    p.add_argument("--timeout", type=float, default=15.0, help="seconds (default: 15)")
    p.set_defaults(func=cmd_fingerprint)


def cmd_fingerprint(args: argparse.Namespace) -> int:
    try:
        host, port = split_host_port(args.address)
    except ValueError as exc:
        return fail(str(exc))
    try:
        probed = fetch_certificate(host, port, args.starttls, timeout=args.timeout)
    except ProbeError as exc:
        return fail(str(exc))
    info = describe_der(probed.der)
    print(f"server:      {host}:{port} ({probed.version}, {probed.cipher})")
    _print_info(info)
    if not args.pin:
        return EXIT_OK
    result = check_pin(
        Path(args.pin), host, port, spki=info.pin_sha256, certificate=info.sha256, record=args.pin_kind
    )
    if result.state == "first-use":
        what = "the public key (SPKI)" if result.kind == "spki" else "the certificate's fingerprint"
        print(f"pinned:      first use, recorded {what} in {args.pin}")
        return EXIT_OK
    if result.state == "match":
        if result.kind == "spki":
            print(f"pinned:      matches the public key (SPKI) recorded in {args.pin}")
        else:
            print(f"pinned:      matches the certificate fingerprint recorded in {args.pin}")
        if result.upgraded:
            print(
                "             (an older kind of pin, which every renewal breaks: it now records "
                "the public key, which renewals that keep the key keep)"
            )
        return EXIT_OK
    return _pin_changed(host, port, args.pin, result, info)


def _pin_changed(host: str, port: int, pin: str, result: PinResult, info: certs.CertInfo) -> int:
    bar = "@" * 70
    if result.kind == "spki":
        head = f"WARNING: THE PUBLIC KEY OF {host}:{port} HAS CHANGED!"
        now = spki_record(info.pin_sha256)
        why = "Someone may be intercepting the connection, or the server got a new key.\n"
    else:
        head = f"WARNING: THE CERTIFICATE OF {host}:{port} HAS CHANGED!"
        now = info.sha256
        why = (
            "Someone may be intercepting the connection, or the server got a new certificate\n"
            "(the record is a certificate fingerprint, an older kind of pin that every renewal\n"
            "changes; recorded again, it pins the public key, which a renewal may keep).\n"
        )
    print(
        f"{bar}\n{head}\n"
        f"recorded: {result.recorded}\n"
        f"now:      {now}\n"
        f"{why}"
        f"Check with the server's admin; if the change is expected, remove the line for\n"
        f"{host.lower()}:{port} from {pin} and run this again.\n"
        f"{bar}",
        file=sys.stderr,
    )
    return EXIT_PIN_MISMATCH


# --- dhparams --------------------------------------------------------------------


def _register_dhparams(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "dhparams",
        help="write DH parameters for dhe = true",
        description="Generate DH parameters (PEM). 2048 bits takes seconds to minutes, 4096 much longer.",
    )
    p.add_argument("--bits", type=int, choices=(2048, 3072, 4096), default=2048, help="default: 2048")
    p.add_argument("--out", metavar="FILE", required=True)
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_dhparams)


def cmd_dhparams(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.force:
        return fail(f"{out} already exists: add --force to replace it")
    print(f"generating {args.bits}-bit DH parameters (this takes a while) ...", file=sys.stderr)
    started = dt.datetime.now(dt.UTC)
    data = certs.generate_dhparams(args.bits)
    out.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(out, data, 0o644)
    took = (dt.datetime.now(dt.UTC) - started).total_seconds()
    # the absolute path: a relative dhparams in the config is read from data_dir, not from here
    print(f'wrote {out} ({args.bits} bits, {took:.0f} s); '
          f'use it with dhe = true, dhparams = "{out.resolve()}"')
    return EXIT_OK


__all__ = ["EXIT_PIN_MISMATCH", "EXIT_PROBLEMS", "register"]
