"""``mailward init``: write a commented configuration and create the data directory."""

from __future__ import annotations

import argparse
import os
import pwd
import socket
from pathlib import Path
from typing import Any

from mailward import files
from mailward.cli.common import EXIT_OK, fail
from mailward.config.sample import render
from mailward.config.secrets import SecretsSettings
from mailward.config.tls import TlsSettings
from mailward.secrets import SecretPaths, create_master_key
from mailward.server.registry import protocols
from mailward.tls import certs

SYSTEM_CONFIG_DIR = "/etc/mailward"
SYSTEM_DATA_DIR = "/var/lib/mailward"
CONFIG_NAME = "mailward.toml"
CONFIG_MODE = 0o640
# beside [tls]'s default certs/server.crt (ECDSA P-256)
RSA_CERTIFICATE, RSA_KEY = "certs/server-rsa.crt", "certs/server-rsa.key"
RSA_KEY_TYPE: certs.KeyType = "rsa-2048"  # Mozilla intermediate: RSA 2048 bits at least


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "init",
        help="write a commented configuration and create the data directory",
        description=(
            "Write a commented mailward.toml and create the data directory. With --dir, "
            f"everything goes under DIR (DIR/{CONFIG_NAME}, DIR/data); without it, "
            f"{SYSTEM_CONFIG_DIR}/{CONFIG_NAME} and {SYSTEM_DATA_DIR}."
        ),
    )
    parser.add_argument("--dir", metavar="DIR", help="put the configuration and the data under DIR")
    parser.add_argument("--hostname", metavar="H", help="the server's name (default: this machine's FQDN)")
    parser.add_argument("--user", metavar="NAME", help="the unprivileged user the server will run as")
    parser.add_argument(
        "--dev-ports",
        action="store_true",
        help="listen on non-privileged ports (2525, 2587, 2465, ...) instead of the standard ones",
    )
    parser.add_argument(
        "--rsa",
        action="store_true",
        help=f"also create an RSA certificate ({RSA_CERTIFICATE}), served beside the ECDSA one to "
        "clients without ECDSA and needed by dhe = true; the config names it as rsa_certificate",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing configuration")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.dir:
        base = Path(args.dir).absolute()
        config_path, data_dir, data_value = base / CONFIG_NAME, base / "data", "data"
    else:
        config_path = Path(SYSTEM_CONFIG_DIR) / CONFIG_NAME
        data_dir = Path(SYSTEM_DATA_DIR)
        data_value = SYSTEM_DATA_DIR
    if config_path.exists() and not args.force:
        return fail(f"{config_path} exists already: keep it, or pass --force to replace it")
    uid = gid = -1
    if args.user:
        try:
            entry = pwd.getpwnam(args.user)
        except KeyError:
            return fail(f'no such user "{args.user}": create it first (useradd --system {args.user})')
        if os.geteuid() == 0:
            uid, gid = entry.pw_uid, entry.pw_gid
        elif os.geteuid() != entry.pw_uid:
            return fail(f"only root can give files to {args.user}: run init as root or as {args.user}")

    hostname = args.hostname or socket.getfqdn()
    values: dict[str, Any] = {"hostname": hostname, "data_dir": data_value}
    if args.user:
        values["user"] = args.user
    sections = {"tls": {"rsa_certificate": RSA_CERTIFICATE, "rsa_key": RSA_KEY}} if args.rsa else {}
    text = render(values, _listeners(args.dev_ports), header=_header(config_path), sections=sections)

    # a directory init makes for the config is root's, with the server's group, which
    # must pass through it (the data directory sits inside it with --dir)
    files.make_dir(config_path.parent, gid=gid)
    files.make_dir(data_dir, uid=uid, gid=gid)
    # the config holds no secrets (those are sealed): root owns it, the server's group reads it
    files.write_atomic(config_path, text.encode(), CONFIG_MODE, owner=(-1, gid))
    print(f"wrote {config_path}")
    print(f"data directory {data_dir}")
    defaults = TlsSettings()
    _certificate(data_dir, (defaults.certificate, defaults.key), "ecdsa-p256", hostname, uid, gid)
    if args.rsa:
        _certificate(data_dir, (RSA_CERTIFICATE, RSA_KEY), RSA_KEY_TYPE, hostname, uid, gid)
    _master_key(data_dir, uid, gid)
    print(f"next: mailward config check -c {config_path}")
    print(f"then: mailward serve -c {config_path}")
    return EXIT_OK


def _certificate(
    data_dir: Path, paths: tuple[str, str], key_type: certs.KeyType, hostname: str, uid: int, gid: int
) -> None:
    """A self-signed certificate for ``hostname`` at ``paths`` (in data_dir); kept if present."""
    cert_path, key_path = data_dir / paths[0], data_dir / paths[1]
    if cert_path.exists() or key_path.exists():
        print(f"kept the certificate {cert_path}")
        return
    files.make_dir(cert_path.parent, uid=uid, gid=gid)
    key = certs.new_key(key_type)
    cert = certs.self_signed(key, [hostname], days=365)
    certs.write_pair(cert_path, key_path, cert, key)
    for path in (cert_path, key_path):
        os.chown(path, uid, gid)
    kind = certs.key_type_of(key)
    print(f"self-signed certificate for {hostname} ({kind}, valid 365 days): {cert_path}")
    print(f"  SHA-256 fingerprint {certs.cert_fingerprint(cert)}")


def _master_key(data_dir: Path, uid: int, gid: int) -> None:
    """The key that seals `mailward secret` values; never replaced (the store would be lost)."""
    paths = SecretPaths.of(SecretsSettings(), data_dir)
    if paths.key_file.exists():
        print(f"kept the master key {paths.key_file}")
        return
    files.make_dir(paths.key_file.parent, 0o700, uid=uid, gid=gid)
    create_master_key(paths.key_file)  # owned like its directory (files.inherited_owner)
    print(f"master key for secrets: {paths.key_file} (back it up; mode 0600)")


def _listeners(dev_ports: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for spec in protocols().values():
        for template in spec.templates:
            port = template.dev_port if dev_ports else template.port
            out.append(
                {
                    "name": template.name,
                    "protocol": spec.name,
                    "role": template.role,
                    "address": f"0.0.0.0:{port}",
                    "tls": template.tls,
                }
            )
    return out


def _header(config_path: Path) -> str:
    return (
        f"mailward configuration ({config_path}). Keys that are commented out show their "
        "defaults. Check it with `mailward config check`; `mailward serve` reads it, and "
        "re-reads it on SIGHUP."
    )
