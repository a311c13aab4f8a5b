"""Crypto-shredding of the personal fields of events (contracts/personal.py says which).

Producer side: `KeyStore` keeps one random AES-256 data key per (case, key class) in the
service's own database (`data_keys`), wrapped under the service's key-encryption key
(Fernet, so the KEK can be rotated: newest first in SAMENWIJK_DATA_KEY_KEK). `seal_data`
replaces an event's personal fields by one AES-256-GCM ciphertext. Erasing a case deletes
its keys (`shred`) and remembers the subject as erased, so no key is ever made again for it:
every copy of its events, wherever it lies, stays ciphertext without a key.

Consumer side: `open_data` puts the fields back with a key obtained from the producer
(runtime/keyring.py). No hand-written crypto: AESGCM and Fernet from `cryptography`.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from contracts.personal import KeyId, Sealed, Sealing

KEY_BYTES = 32
NONCE_BYTES = 12


class CannotOpen(Exception):
    """The ciphertext does not open under its key (tampered, or moved to another event)."""


def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def associated_data(event_type: str, subject: str, kid: str) -> bytes:
    """Binds a ciphertext to its event type, case and key: it cannot be moved elsewhere."""
    return f"{event_type}|{subject}|{kid}".encode()


def split_personal(data: dict[str, Any], sealing: Sealing) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what travels in clear, the personal fields that are present)."""
    clear = {k: v for k, v in data.items() if k not in sealing.fields}
    personal = {k: data[k] for k in sealing.fields if data.get(k) is not None}
    return clear, personal


def seal_data(clear: dict[str, Any], personal: dict[str, Any], *, key: bytes, kid: str, event_type: str,
              subject: str) -> dict[str, Any]:
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(personal, separators=(",", ":"), ensure_ascii=False).encode()
    ct = AESGCM(key).encrypt(nonce, plaintext, associated_data(event_type, subject, kid))
    return {**clear, "sealed": Sealed(kid=kid, iv=b64e(nonce), ct=b64e(ct)).model_dump()}


def open_data(sealed: Sealed, key: bytes, *, event_type: str, subject: str) -> dict[str, Any]:
    try:
        plaintext = AESGCM(key).decrypt(b64d(sealed.iv), b64d(sealed.ct),
                                        associated_data(event_type, subject, sealed.kid))
    except (InvalidTag, ValueError) as exc:
        raise CannotOpen(f"the sealed fields do not open under {sealed.kid}") from exc
    return json.loads(plaintext)


def _fernet(secret: str) -> Fernet:
    # A KEK of any length from the settings; HKDF makes it a Fernet key (32 bytes).
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"samenwijk data-key wrapping").derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def key_encryption_key(secrets: SecretStr) -> MultiFernet:
    """Comma-separated secrets, newest first: the first wraps, all of them unwrap."""
    parts = [s.strip() for s in secrets.get_secret_value().split(",") if s.strip()]
    if not parts:
        raise ValueError("SAMENWIJK_DATA_KEY_KEK is empty")
    return MultiFernet([_fernet(p) for p in parts])


class KeyStore:
    """The data keys this service produces events under (table `data_keys`)."""

    def __init__(self, service: str, kek: SecretStr) -> None:
        self.service = service
        self._kek = key_encryption_key(kek)
        self._newest = kek.get_secret_value().split(",")[0].strip()

    def derived(self, purpose: bytes) -> bytes:
        """A key for another purpose of this service (e.g. keyed fingerprints), from the newest KEK."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"samenwijk " + purpose).derive(
            self._newest.encode())

    def kid(self, key_class: str, subject: str) -> str:
        return str(KeyId(producer=self.service, key_class=key_class, subject=subject))

    async def key_for(self, conn: asyncpg.Connection, key_class: str, subject: str) -> tuple[str, bytes] | None:
        """The data key of (subject, class), made on first use; None once the subject is erased
        (its events then go out without their personal fields)."""
        kid = self.kid(key_class, subject)
        wrapped = await conn.fetchval("SELECT wrapped FROM data_keys WHERE kid = $1", kid)
        if wrapped is None:
            if await conn.fetchval("SELECT true FROM erased_subjects WHERE subject = $1", subject):
                return None
            # A concurrent first use waits on the conflict and then reads the winner's key.
            await conn.execute(
                "INSERT INTO data_keys (kid, subject, key_class, wrapped) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (kid) DO NOTHING", kid, subject, key_class,
                self._kek.encrypt(AESGCM.generate_key(bit_length=8 * KEY_BYTES)))
            wrapped = await conn.fetchval("SELECT wrapped FROM data_keys WHERE kid = $1", kid)
        return kid, self._kek.decrypt(bytes(wrapped))

    async def existing(self, conn: asyncpg.Connection, kids: list[str]) -> dict[str, bytes]:
        """The keys of these ids that exist (an absent one is erased, or was never made)."""
        rows = await conn.fetch("SELECT kid, wrapped FROM data_keys WHERE kid = ANY($1::text[])", kids)
        return {r["kid"]: self._kek.decrypt(bytes(r["wrapped"])) for r in rows}

    async def shred(self, conn: asyncpg.Connection, subject: str) -> int:
        """Crypto-shredding: delete every data key of the subject (a case or an observation
        that never joined one) and remember that it is erased. Returns the keys deleted."""
        deleted = await conn.fetchval(
            "WITH gone AS (DELETE FROM data_keys WHERE subject = $1 RETURNING 1) SELECT count(*) FROM gone", subject)
        await conn.execute("INSERT INTO erased_subjects (subject) VALUES ($1) ON CONFLICT DO NOTHING", subject)
        return deleted

    async def rotate(self, conn: asyncpg.Connection) -> int:
        """Re-wrap every data key under the newest KEK (after putting a new one first)."""
        rows = await conn.fetch("SELECT kid, wrapped FROM data_keys")
        for r in rows:
            await conn.execute("UPDATE data_keys SET wrapped = $2 WHERE kid = $1", r["kid"],
                               self._kek.rotate(bytes(r["wrapped"])))
        return len(rows)

    def __repr__(self) -> str:  # never show key material
        return f"KeyStore({self.service}, ***)"
