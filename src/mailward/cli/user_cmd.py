"""``mailward user ...``: users, their passwords, app passwords and certificates.

Passwords are never taken from the command line (``ps`` and shell history would
show them): they are prompted for twice without echo, or read from stdin.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import Any

from mailward.auth.accounts import AccountService, names
from mailward.cli.common import EXIT_OK, PasswordLines, fail, print_usage, read_password
from mailward.cli.service import CommandFailed, add_command, with_service
from mailward.config import Config

_SIZE = re.compile(r"(\d+)\s*([KMGT]?)(i?B)?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``0``, ``1048576``, ``500M``, ``2G``, ``2GiB``: bytes (binary units)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 500M, 2G, or 0 for no limit)")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    user = subparsers.add_parser("user", help="users: add, passwords, disable, app passwords, certificates",
                                 description="Manage users (mail accounts).")
    commands = user.add_subparsers(title="user commands", metavar="COMMAND")
    user.set_defaults(func=lambda _args: print_usage(user))
    add = add_command(commands, "add", "add a user (the password is prompted for, or read from stdin)",
                   cmd_add, "address")
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--quota", type=parse_size, default=0, metavar="SIZE",
                     help="mailbox quota, e.g. 2G (default 0: no limit)")
    add.add_argument("--no-password", action="store_true",
                     help="no password: log in only with app passwords or a client certificate")
    add_command(commands, "passwd", "set a user's password", cmd_passwd, "address")
    add_command(commands, "disable", "refuse the user's logins and mail (kept, not deleted)", cmd_disable,
             "address")
    add_command(commands, "enable", "undo disable", cmd_enable, "address")
    quota = add_command(commands, "quota", "set a user's quota", cmd_quota, "address")
    quota.add_argument("size", type=parse_size, metavar="SIZE", help="e.g. 2G, or 0 for no limit")
    listing = add_command(commands, "list", "list users with their quota use", cmd_list)
    listing.add_argument("domain", nargs="?", metavar="DOMAIN", help="only this domain")
    remove = add_command(commands, "remove", "remove a user and ALL their mail", cmd_remove, "address")
    remove.add_argument("--yes", action="store_true", help="do not ask")

    app = commands.add_parser("app-password", help="passwords of their own for single mail clients",
                              description="App passwords: one per client (phone, laptop), revocable "
                              "one by one. They work with PLAIN/LOGIN (and IMAP LOGIN, POP3 PASS), over TLS.")
    app_commands = app.add_subparsers(title="app-password commands", metavar="COMMAND")
    app.set_defaults(func=lambda _args: print_usage(app))
    app_add = add_command(app_commands, "add", "make a new app password (shown once)", cmd_app_add, "address")
    app_add.add_argument("label", metavar="LABEL", help='what it is for, e.g. "phone"')
    add_command(app_commands, "list", "list a user's app passwords", cmd_app_list, "address")
    revoke = add_command(app_commands, "revoke", "revoke an app password", cmd_app_revoke, "address")
    revoke.add_argument("label", metavar="LABEL")

    cert = commands.add_parser("cert", help="client certificates for SASL EXTERNAL",
                               description="Client certificates a user logs in with (SASL EXTERNAL), "
                               "on listeners with verify_client and a ca.")
    cert_commands = cert.add_subparsers(title="cert commands", metavar="COMMAND")
    cert.set_defaults(func=lambda _args: print_usage(cert))
    cert_add = add_command(cert_commands, "add", "register a certificate (PEM file or SHA-256 fingerprint)",
                        cmd_cert_add, "address")
    cert_add.add_argument("certificate", metavar="FILE|FINGERPRINT")
    cert_add.add_argument("--label", default="", help="a note, e.g. the device")
    add_command(cert_commands, "list", "list a user's certificates", cmd_cert_list, "address")
    add_command(cert_commands, "remove", "unregister a certificate", cmd_cert_remove, "fingerprint")


def _new_password(address: str) -> str:
    try:
        password = read_password(f"password for {address}")
    except PasswordLines as exc:
        raise CommandFailed(f"{exc}; nothing was changed") from None
    if password is None:
        raise CommandFailed("the two passwords differ; nothing was changed")
    if not password:
        raise CommandFailed("the password is empty; nothing was changed")
    return password


def cmd_add(args: argparse.Namespace) -> int:
    password = None if args.no_password else _new_password(args.address)
    account = with_service(args, lambda s, _c: s.add_user(
        args.address, password, display_name=args.name, quota_bytes=args.quota))
    print(f"user {account.name} added")
    return EXIT_OK


def cmd_passwd(args: argparse.Namespace) -> int:
    password = _new_password(args.address)
    with_service(args, lambda s, _c: s.set_password(args.address, password))
    print(f"password of {args.address} changed")
    return EXIT_OK


def cmd_disable(args: argparse.Namespace) -> int:
    account = with_service(args, lambda s, _c: s.set_enabled(args.address, False))
    print(f"user {account.name} disabled: logins and new mail are refused, stored mail is kept")
    return EXIT_OK


def cmd_enable(args: argparse.Namespace) -> int:
    account = with_service(args, lambda s, _c: s.set_enabled(args.address, True))
    print(f"user {account.name} enabled")
    return EXIT_OK


def cmd_quota(args: argparse.Namespace) -> int:
    with_service(args, lambda s, _c: s.set_quota(args.address, args.size))
    print(f"quota of {args.address} set to {_size(args.size) if args.size else 'no limit'}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    async def call(service: AccountService, _config: Config) -> list[str]:
        lines = []
        for account in await service.list_users(args.domain):
            usage = await service.store.quota(account.id)
            limit = _size(usage.limit_bytes) if usage.limit_bytes else "no limit"
            state = "" if account.enabled else "\tDISABLED"
            name = f"\t{account.display_name}" if account.display_name else ""
            lines.append(f"{account.name}\t{_size(usage.used_bytes)} of {limit}, "
                         f"{usage.messages} message(s){state}{name}")
        return lines

    for line in with_service(args, call):
        print(line)
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            return fail(f"removing {args.address} deletes all of its mail: add --yes to confirm")
        answer = input(f"delete {args.address} and all of its mail? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return fail("nothing was removed")
    messages = with_service(args, lambda s, _c: s.remove_user(args.address))
    print(f"user {args.address} removed with {messages} message(s)")
    return EXIT_OK


def cmd_app_add(args: argparse.Namespace) -> int:
    password = with_service(args, lambda s, _c: s.add_app_password(args.address, args.label))
    print(f"app password {args.label!r} for {args.address} (shown only now; spaces do not matter):")
    print(password)
    return EXIT_OK


def cmd_app_list(args: argparse.Namespace) -> int:
    for app in with_service(args, lambda s, _c: s.list_app_passwords(args.address)):
        print(f"{app.label}\tcreated {_date(app.created)}")
    return EXIT_OK


def cmd_app_revoke(args: argparse.Namespace) -> int:
    with_service(args, lambda s, _c: s.revoke_app_password(args.address, args.label))
    print(f"app password {args.label!r} of {args.address} revoked")
    return EXIT_OK


def cmd_cert_add(args: argparse.Namespace) -> int:
    text = args.certificate
    if "-----BEGIN" not in text and not _is_fingerprint(text):
        try:
            with open(text, encoding="ascii", errors="replace") as f:
                text = f.read()
        except OSError as exc:
            return fail(f"cannot read {args.certificate}: {exc.strerror}")
    cert = with_service(args, lambda s, _c: s.add_certificate(args.address, text, args.label))
    print(f"certificate {cert.fingerprint} registered to {args.address}")
    return EXIT_OK


def cmd_cert_list(args: argparse.Namespace) -> int:
    for cert in with_service(args, lambda s, _c: s.list_certificates(args.address)):
        label = f"\t{cert.label}" if cert.label else ""
        print(f"{cert.fingerprint}\tadded {_date(cert.created)}{label}")
    return EXIT_OK


def cmd_cert_remove(args: argparse.Namespace) -> int:
    with_service(args, lambda s, _c: s.remove_certificate(args.fingerprint))
    print(f"certificate {args.fingerprint} unregistered")
    return EXIT_OK


def _is_fingerprint(text: str) -> bool:
    try:
        names.fingerprint(text)
    except names.InvalidName:
        return False
    return True


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"


def _date(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(when))
