"""Where the key-encryption key (KEK) comes from, in one place.

The KEK is 32 random bytes, written as base64. In order of precedence:

1. AGENTAUDIT_KEK: the base64 itself (from a secret manager's injection).
2. AGENTAUDIT_KEK_FILE: a file holding the base64 (a mounted secret); refused
   when group or others may read it, since anyone who reads it can open every
   sealed secret.
3. HOME/keys/kek: only ever written by `agentaudit keys init --dev`, for local
   development; every use logs a warning, because a KEK beside the data it
   protects protects nothing.

The KEK is never logged, printed or put in an exception message; kek_id()
names it instead (a one-way tag), so errors can say "sealed under another KEK".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from agentaudit.errors import ConfigError

if TYPE_CHECKING:  # settings validates the KEK's form with decode_kek: no import cycle at run time
    from agentaudit.settings import Settings

log = logging.getLogger(__name__)

KEK_SIZE = 32
_ID_DOMAIN = b"agentaudit/kek-id/v1"

NO_KEK = (
    "no key-encryption key configured: set AGENTAUDIT_KEK_FILE to a file (mode 0600) holding base64 of 32 random "
    "bytes, provisioned by your secret manager (e.g. `head -c 32 /dev/urandom | base64`), or AGENTAUDIT_KEK to that "
    "base64; for local development only, `agentaudit keys init --dev` writes one under AGENTAUDIT_HOME/keys/kek"
)


def decode_kek(text: str, source: str) -> bytes:
    """The KEK from its base64 form; the error names the source, never the value."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{source} is not valid base64 (expected base64 of {KEK_SIZE} random bytes)") from None
    if len(raw) != KEK_SIZE:
        raise ConfigError(f"{source} decodes to {len(raw)} bytes; the KEK must be {KEK_SIZE} bytes (AES-256)")
    return raw


def dev_kek_path(settings: Settings) -> Path:
    return settings.home / "keys" / "kek"


def read_private_file(path: Path, what: str) -> bytes:
    """The bytes of a file that must be readable by its owner only."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{what} {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"anyone who reads it can open every sealed secret. Fix: chmod 600 {path}"
        )
    return path.read_bytes()


def load_kek(settings: Settings) -> bytes:
    """The configured KEK; ConfigError saying how to provide one when there is none."""
    if settings.kek:
        return decode_kek(settings.kek, "AGENTAUDIT_KEK")
    if settings.kek_file:
        path = Path(settings.kek_file)
        return decode_kek(read_private_file(path, "AGENTAUDIT_KEK_FILE").decode("ascii", "replace"),
                          f"AGENTAUDIT_KEK_FILE {path}")
    dev = dev_kek_path(settings)
    if dev.exists():
        log.warning("using the development KEK %s (written by `agentaudit keys init --dev`); production takes "
                    "AGENTAUDIT_KEK_FILE or AGENTAUDIT_KEK from a secret manager", dev)
        return decode_kek(read_private_file(dev, "development KEK").decode("ascii", "replace"), f"development KEK {dev}")
    raise ConfigError(NO_KEK)


def kek_id(kek: bytes) -> bytes:
    """An 8-byte tag naming a KEK without revealing it (SHA-256 of a domain tag and the key).

    Stored in every sealed value, so opening under the wrong KEK is reported
    as exactly that, not as tampering.
    """
    return hashlib.sha256(_ID_DOMAIN + kek).digest()[:8]


def generate_dev_kek(settings: Settings) -> Path:
    """Write a fresh development KEK to HOME/keys/kek (0600); refuse to replace one."""
    path = dev_kek_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = base64.b64encode(secrets.token_bytes(KEK_SIZE)) + b"\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists already: a development KEK is never replaced (everything sealed under "
                          f"it would be lost)") from None
    with os.fdopen(fd, "wb") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    return path
