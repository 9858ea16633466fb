"""Secrets at rest: the key-encryption key (KEK) and AES-256-GCM sealing under it.

Shared by the agent registry (HMAC secrets of agents) and the pipeline's
keyring (its Ed25519 private keys): neither ever writes a secret in plaintext.
"""

from agentaudit.crypto.kek import KEK_SIZE, dev_kek_path, generate_dev_kek, kek_id, load_kek
from agentaudit.crypto.seal import SealError, seal, unseal

__all__ = ["KEK_SIZE", "SealError", "dev_kek_path", "generate_dev_kek", "kek_id", "load_kek", "seal", "unseal"]
