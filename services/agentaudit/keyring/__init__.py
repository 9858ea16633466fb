"""The pipeline's own Ed25519 keys, which sign seals and registry entries.

    keyring = Keyring.load(settings)
    key_id, signature = keyring.sign(data)
    verify_signature(keyring.public_keys(), key_id, data, signature)  # offline: public keys only
"""

from agentaudit.keyring.keys import (
    KeyringError,
    PipelineKey,
    ed25519_key_id,
    load_public_keys,
    public_keys_document,
    verify_signature,
)
from agentaudit.keyring.store import Keyring, keyring_path, local_public_keys, local_public_keys_document

__all__ = [
    "Keyring",
    "KeyringError",
    "PipelineKey",
    "ed25519_key_id",
    "keyring_path",
    "load_public_keys",
    "local_public_keys",
    "local_public_keys_document",
    "public_keys_document",
    "verify_signature",
]
