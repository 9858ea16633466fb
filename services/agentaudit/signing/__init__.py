"""Signing of agent actions: the canonical byte form (schemas/signing.md), the
signers an agent runtime uses, and verification for the processor."""

from agentaudit.signing.canonical import DOMAIN_TAG, canonical_bytes
from agentaudit.signing.signers import Ed25519Signer, HmacSigner, Signer, sign_action
from agentaudit.signing.verify import verify

__all__ = ["DOMAIN_TAG", "Ed25519Signer", "HmacSigner", "Signer", "canonical_bytes", "sign_action", "verify"]
