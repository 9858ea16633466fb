"""Names, tags and byte forms shared by the evidence writers and verifiers. Pure.

The stored value of a chained record is  header || canonical || link
(schemas/chain.md), where link = avro(ChainLink(position, prev_hash, hash)) =
02 || varint(position) || 40 || prev_hash || 40 || hash. Its length follows
from the position alone, so the canonical bytes can be cut out of a value
without decoding it -- exactly what ClickHouse does for `verify`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime, timedelta

from agentaudit.chain.forms import chain_link_tail, zigzag_varint
from agentaudit.chain.merkle import HASH_SIZE
from agentaudit.codec.base import body_offset

BUNDLE_FORMAT = "agentaudit-evidence-bundle/v1"
SIGNATURE_FORMAT = "agentaudit-evidence-signature/v1"
PROOF_FORMAT = "agentaudit-inclusion-proof/v1"

MANIFEST_DOMAIN = b"agentaudit/evidence/v1/manifest\x00"
"""Prefix of what manifest.sig signs. The pipeline key also signs seals and
registry entries, each under its own tag, so no signature made for one can be
passed off as another."""

RECORDS_FILE = "records.jsonl"
SEALS_FILE = "seals.jsonl"
KEYS_FILE = "public-keys.json"
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
DATA_FILES = (RECORDS_FILE, SEALS_FILE, KEYS_FILE)
"""Files the manifest lists by SHA-256; the manifest itself is covered by manifest.sig."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FormatError(ValueError):
    """A field of a bundle or proof is not in the form the format requires."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, what: str) -> bytes:
    """Strict base64: anything but the canonical alphabet is refused, not skipped."""
    if not isinstance(text, str):
        raise FormatError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{what} is not valid base64") from None


def unhex_hash(text: object, what: str) -> bytes:
    """A 32-byte hash written as 64 hex characters."""
    if not isinstance(text, str):
        raise FormatError(f"{what} must be a hex string")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise FormatError(f"{what} is not hex") from None
    if len(raw) != HASH_SIZE:
        raise FormatError(f"{what} must be {HASH_SIZE} bytes, is {len(raw)}")
    return raw


def iso_us(us: int) -> str:
    """Microseconds since the epoch as ISO-8601 UTC with all six decimals, e.g. 2026-11-25T09:49:08.123456Z."""
    return (_EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso_us(text: object, what: str) -> int:
    """The inverse of iso_us, exactly (integer arithmetic, no float rounding)."""
    if not isinstance(text, str):
        raise FormatError(f"{what} must be an ISO-8601 time")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FormatError(f"{what} is not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise FormatError(f"{what} has no time zone: {text!r}")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def link_length(position: int) -> int:
    """Bytes of the chain link ending a stored record at this position."""
    return 1 + len(zigzag_varint(position)) + 2 * (1 + HASH_SIZE)


def canonical_bytes(value: bytes, position: int) -> bytes:
    """The bytes the chain hash covers: after the header, before the chain link.

    Raises FormatError if the value is too short to hold a header and a link,
    or starts with neither encoding's header.
    """
    try:
        start = body_offset(value)
    except ValueError:
        raise FormatError("the stored value starts with neither Avro single-object nor Confluent framing") from None
    end = len(value) - link_length(position)
    if end < start:
        raise FormatError("the stored value is too short to hold a record and its chain link")
    return value[start:end]


def content_ok(value: bytes, position: int, prev_hash: bytes, hash_: bytes) -> bool:
    """SHA-256(prev_hash || canonical bytes) == hash: what ClickHouse computes as content_ok."""
    try:
        canonical = canonical_bytes(value, position)
    except FormatError:
        return False
    return hashlib.sha256(prev_hash + canonical).digest() == hash_


def link_ok(value: bytes, position: int, prev_hash: bytes, hash_: bytes) -> bool:
    """The chain link ending the stored value says (position, prev_hash, hash), as the columns do."""
    return value.endswith(chain_link_tail(position, prev_hash, hash_))


def manifest_signed_bytes(manifest: bytes) -> bytes:
    """What manifest.sig's Ed25519 signature covers: MANIFEST_DOMAIN || the manifest file's exact bytes."""
    return MANIFEST_DOMAIN + manifest
