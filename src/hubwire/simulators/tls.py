"""A throwaway self-signed certificate for serving a simulator over HTTPS on loopback.

Some official clients (simple-salesforce) speak only HTTPS. The certificate names the one address
the simulator listens on, lives a day, and is written with its key into a folder the caller owns
(a temporary one): clients trust it by pointing at ``cert.pem`` (``verify=``/``cafile=``).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LoopbackTLS", "self_signed"]


@dataclass(frozen=True)
class LoopbackTLS:
    """``server`` serves with the certificate; ``ca_file`` makes clients trust it."""

    server: ssl.SSLContext
    ca_file: Path


def self_signed(folder: Path, host: str = "127.0.0.1") -> LoopbackTLS:
    """A certificate for ``host`` (an address or a name) and its key, written into ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([alt]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return LoopbackTLS(server, folder / "cert.pem")
