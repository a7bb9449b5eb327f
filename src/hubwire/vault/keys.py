"""Encryption of credentials with AES-256-GCM.

The key comes from ``HUBWIRE_SECRET_KEY`` (any string; hashed to 32 bytes with HKDF) or, in
the embedded default, is generated on first run into ``<data dir>/hubwire.key`` with mode 0600.
Ciphertexts carry a key id so a future rotation can tell keys apart. This module never logs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hubwire.errors import ConfigurationError

__all__ = ["Vault", "load_or_create_key"]


def load_or_create_key(secret_key: str | None, data_dir: Path) -> str:
    if secret_key:
        return secret_key
    path = data_dir / "hubwire.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


class Vault:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ConfigurationError("an empty secret key cannot protect credentials")
        material = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"hubwire-vault-v1", info=b"credentials").derive(
            secret.encode()
        )
        self._aead = AESGCM(material)
        self.key_id = hashlib.sha256(material).hexdigest()[:12]

    def encrypt(self, value: dict[str, Any], *, context: str) -> bytes:
        nonce = secrets.token_bytes(12)
        plain = json.dumps(value, separators=(",", ":")).encode()
        # The integration id is bound as associated data: a ciphertext moved to another row fails.
        return nonce + self._aead.encrypt(nonce, plain, context.encode())

    def decrypt(self, blob: bytes, *, context: str) -> dict[str, Any]:
        try:
            plain = self._aead.decrypt(blob[:12], blob[12:], context.encode())
        except InvalidTag as exc:
            raise ConfigurationError(
                "stored credentials cannot be decrypted: HUBWIRE_SECRET_KEY differs from the key they were saved with"
            ) from exc
        out: dict[str, Any] = json.loads(plain)
        return out
