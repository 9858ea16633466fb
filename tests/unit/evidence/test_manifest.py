"""manifest.sig: the pipeline key's signature over the manifest's exact bytes, under its own domain tag."""

from __future__ import annotations

import base64
import json

from agentaudit.chain.seal import SEAL_DOMAIN
from agentaudit.evidence.formats import MANIFEST_DOMAIN
from agentaudit.evidence.manifest import manifest_bytes, sign_manifest, signature_problem
from agentaudit.keyring import verify_signature
from tests.unit.evidence.support import KeySigner

SIGNER = KeySigner()
DATA = manifest_bytes({"format": "agentaudit-evidence-bundle/v1", "counts": {"records": 3}})


def test_a_signed_manifest_verifies_and_names_its_key() -> None:
    signature = sign_manifest(DATA, SIGNER)
    assert signature_problem(signature, DATA, SIGNER.public_keys(), verify_signature) is None
    assert json.loads(signature)["key_id"] == SIGNER.current_key_id


def test_any_change_to_the_manifest_or_signature_is_a_problem() -> None:
    signature = sign_manifest(DATA, SIGNER)
    changed = DATA.replace(b'"records": 3', b'"records": 4')
    assert "does not verify" in str(signature_problem(signature, changed, SIGNER.public_keys(), verify_signature))
    # The same JSON re-serialised is different bytes: the signature is over bytes, not meaning.
    compact = json.dumps(json.loads(DATA), separators=(",", ":")).encode()
    assert signature_problem(signature, compact, SIGNER.public_keys(), verify_signature) is not None
    other = KeySigner()
    assert "not among the public keys" in str(signature_problem(signature, DATA, other.public_keys(),
                                                                verify_signature))
    for broken in (b"not json", b'{"format": "x"}', json.dumps({**json.loads(signature), "signature": "@@"}).encode()):
        assert signature_problem(broken, DATA, SIGNER.public_keys(), verify_signature) is not None


def test_the_signature_is_domain_separated_from_seals() -> None:
    """A seal signature can never pass as a manifest signature, nor the reverse."""
    key_id, raw = SIGNER.sign(SEAL_DOMAIN + DATA)
    as_manifest = json.dumps({**json.loads(sign_manifest(DATA, SIGNER)), "signature": base64.b64encode(raw).decode()})
    assert signature_problem(as_manifest.encode(), DATA, SIGNER.public_keys(), verify_signature) is not None
    assert not MANIFEST_DOMAIN.startswith(SEAL_DOMAIN) and not SEAL_DOMAIN.startswith(MANIFEST_DOMAIN)
