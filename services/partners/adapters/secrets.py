"""Webhook secrets at rest: Fernet (AES-CBC + HMAC) under a key derived from the settings."""

import base64
import hashlib

from cryptography.fernet import Fernet
from pydantic import SecretStr


class SecretBox:
    def __init__(self, key: SecretStr) -> None:
        derived = hashlib.sha256(key.get_secret_value().encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> bytes:
        return self._fernet.decrypt(sealed)

    def __repr__(self) -> str:  # never show key material
        return "SecretBox(***)"
