"""TLS verification is on for https receivers; ca_file trusts a private CA."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agentaudit.alert.payloads import build_request
from agentaudit.alert.routes import Route, RouteKind
from agentaudit.alert.transport import Status, post
from tests.unit.alert.support import Receiver, incident


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_an_untrusted_certificate_is_refused_and_a_given_ca_is_trusted(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    receiver = Receiver()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    url = f"https://127.0.0.1:{receiver.port}/hook"
    try:
        untrusted = Route(name="tls", kind=RouteKind.WEBHOOK, url=url, timeout_s=5)
        refused = post(untrusted, build_request(untrusted, incident(), 0))
        trusted = Route(name="tls", kind=RouteKind.WEBHOOK, url=url, timeout_s=5, ca_file=str(cert))
        accepted = post(trusted, build_request(trusted, incident(), 0))
    finally:
        receiver.close()
    assert refused.status is Status.RETRYING and "CERTIFICATE_VERIFY_FAILED" in (refused.error or "")
    assert (accepted.status, accepted.http_status) == (Status.DELIVERED, 200)
    assert len(receiver.accepted()) == 1
