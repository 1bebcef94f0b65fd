"""The auth package's only ``cryptography`` import: private keys, JWT signing, client certificates.

Used by the service-account flows (an RS256-signed JWT assertion, RFC 7523; GitHub App JWTs) and by
mTLS (validating a certificate against its key, and handing the key to ``ssl`` without ever writing
it to disk in clear).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from cuervo_fabric.errors import InvalidInputError

__all__ = [
    "CertificateInfo",
    "b64url",
    "check_client_certificate",
    "encrypted_key_pem",
    "jwt_rs256",
    "normalise_private_key",
]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _load_key(pem: bytes, password: bytes | None, what: str) -> Any:
    try:
        return serialization.load_pem_private_key(pem, password=password)
    except TypeError as exc:
        if password is None:
            raise InvalidInputError(
                f"the {what} is encrypted: give its passphrase on stdin", details={"field": "key"}
            ) from exc
        raise InvalidInputError(f"the {what} is not encrypted", details={"field": "key"}) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        hint = "; wrong passphrase?" if password is not None else ""
        raise InvalidInputError(
            f"the {what} is not a readable PEM private key{hint}", details={"field": "key"}
        ) from exc


def normalise_private_key(pem: str | bytes, *, password: bytes | None = None, what: str = "key") -> str:
    """Check a PEM private key and return it as unencrypted PKCS#8 PEM (it is sealed afterwards)."""
    raw = pem.encode() if isinstance(pem, str) else pem
    key = _load_key(raw, password, what)
    out: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return out.decode("ascii")


def jwt_rs256(claims: dict[str, Any], private_key_pem: str, *, kid: str | None = None) -> str:
    """A compact JWS (RFC 7515) of ``claims``, signed with RS256 by an RSA private key."""
    key = _load_key(private_key_pem.encode(), None, "private key")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidInputError("the private key must be an RSA key (RS256)", details={"field": "key"})
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """Public facts of a client certificate (shown by ``auth status``)."""

    subject: str
    issuer: str
    not_after: float
    fingerprint_sha256: str


def check_client_certificate(
    cert_pem: bytes, key_pem: bytes, *, password: bytes | None = None
) -> tuple[CertificateInfo, str, str]:
    """Validate a certificate (chain) and its key; ``(info, cert chain PEM, PKCS#8 key PEM)``."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as exc:
        raise InvalidInputError(
            "the certificate file holds no PEM certificate", details={"field": "cert"}
        ) from exc
    leaf = chain[0]
    key = _load_key(key_pem, password, "client key")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidInputError("the client key must be an RSA or EC key", details={"field": "key"})
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, fmt) != leaf.public_key().public_bytes(enc, fmt):
        raise InvalidInputError(
            "the key does not belong to the certificate (their public keys differ)",
            details={"field": "key"},
        )
    info = CertificateInfo(
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        not_after=leaf.not_valid_after_utc.timestamp(),
        fingerprint_sha256=leaf.fingerprint(hashes.SHA256()).hex(),
    )
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain).decode("ascii")
    key_out: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return info, chain_pem, key_out.decode("ascii")


def encrypted_key_pem(key_pem: str, password: bytes) -> bytes:
    """The key as PKCS#8 PEM encrypted with ``password`` (a one-time password for ``ssl``)."""
    key = _load_key(key_pem.encode(), None, "client key")
    out: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    return out
