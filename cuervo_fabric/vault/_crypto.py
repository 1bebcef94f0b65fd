"""The only module that imports ``cryptography``: AES-256-GCM envelope encryption.

A fresh 256-bit data key encrypts each credential; the master key wraps the data key. Tenant and
instance are bound as associated data, so a row copied to another tenant or instance fails to open.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DecryptionError",
    "generate_master_key",
    "key_id_for",
    "open_envelope",
    "rewrap",
    "seal_envelope",
]

_NONCE = 12


class DecryptionError(Exception):
    """Wrong key, wrong tenant/instance binding, or tampered data."""


def key_id_for(master_key: bytes) -> str:
    """A public identifier of a master key (a hash prefix; reveals nothing usable)."""
    return "k_" + hashlib.sha256(b"cuervo-fabric key id\x00" + master_key).hexdigest()[:16]


def _aad(tenant_id: str, instance_id: str) -> bytes:
    return f"cuervo-fabric/v1\x00{tenant_id}\x00{instance_id}".encode()


def seal_envelope(
    master_key: bytes, tenant_id: str, instance_id: str, plaintext: bytes
) -> tuple[bytes, bytes]:
    """Encrypt ``plaintext``; return ``(ciphertext, wrapped_data_key)``."""
    aad = _aad(tenant_id, instance_id)
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE)
    ciphertext = nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)
    wrap_nonce = os.urandom(_NONCE)
    wrapped = wrap_nonce + AESGCM(master_key).encrypt(wrap_nonce, data_key, aad + b"\x00dek")
    return ciphertext, wrapped


def _unwrap(master_key: bytes, aad: bytes, wrapped: bytes) -> bytes:
    try:
        return AESGCM(master_key).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], aad + b"\x00dek")
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("the data key does not unwrap with this master key") from exc


def open_envelope(
    master_key: bytes, tenant_id: str, instance_id: str, ciphertext: bytes, wrapped: bytes
) -> bytes:
    """Decrypt what :func:`seal_envelope` produced for the same tenant and instance."""
    aad = _aad(tenant_id, instance_id)
    data_key = _unwrap(master_key, aad, wrapped)
    try:
        return AESGCM(data_key).decrypt(ciphertext[:_NONCE], ciphertext[_NONCE:], aad)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("the credential does not decrypt (tampered or moved)") from exc


def rewrap(old_master: bytes, new_master: bytes, tenant_id: str, instance_id: str, wrapped: bytes) -> bytes:
    """Re-wrap one data key under a new master key (key rotation); the data is untouched."""
    aad = _aad(tenant_id, instance_id)
    data_key = _unwrap(old_master, aad, wrapped)
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(new_master).encrypt(nonce, data_key, aad + b"\x00dek")


def generate_master_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)
