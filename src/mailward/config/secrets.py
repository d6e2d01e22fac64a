"""The ``[secrets]`` section: where the master key and the sealed secret store live.

The master key is taken from the first of these that exists, in this order:

1. the environment variable ``MAILWARD_MASTER_KEY`` (32 bytes, base64);
2. the systemd credential ``$CREDENTIALS_DIRECTORY/mailward-master-key``
   (``LoadCredential=mailward-master-key:/path`` in the unit; raw 32 bytes or base64);
3. the key file ``master_key_file`` below (created by ``mailward init``, mode 0600).

The store itself is :mod:`mailward.secrets`; this module only declares the shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailward.config.schema import PathStr, setting


@dataclass(frozen=True)
class SecretsSettings:
    master_key_file: PathStr = setting(
        "secrets/master.key",
        "The 256-bit master key that seals every secret, used when neither "
        "$MAILWARD_MASTER_KEY nor the systemd credential mailward-master-key is set. "
        "Created mode 0600 by `mailward init`; keep a copy apart from backups of the "
        "store. Relative paths start at data_dir.",
    )
    store_file: PathStr = setting(
        "secrets/sealed.json",
        "The sealed store: each secret encrypted with AES-256-GCM under the master key. "
        "Reference a secret anywhere the config takes a password as \"secret:NAME\". "
        "Relative paths start at data_dir.",
    )
