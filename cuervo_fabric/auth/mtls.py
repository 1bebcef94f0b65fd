"""Mutual TLS: a client certificate and key, sealed in the vault, used by the gateway's HTTP client.

Python's ``ssl`` reads keys only from a path. The key therefore never touches the disk in clear:
it is re-encrypted under a random one-time password, written to an anonymous in-memory file
(``memfd``, Linux) or else a 0600 file in a private temporary folder that is deleted right after
``load_cert_chain`` has read it; the password lives only in memory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from cuervo_fabric.auth._keys import check_client_certificate, encrypted_key_pem
from cuervo_fabric.domain.timeutil import iso
from cuervo_fabric.services.credentials import Renewal

__all__ = ["MtlsTransport", "client_certificate", "ssl_context"]


def client_certificate(cert_pem: bytes, key_pem: bytes, *, password: bytes | None = None) -> Renewal:
    """Validate a certificate and key; the sealed payload, the certificate's expiry, its facts."""
    info, chain, key = check_client_certificate(cert_pem, key_pem, password=password)
    return Renewal(
        secret={"kind": "mtls", "cert_pem": chain, "key_pem": key},
        expires_at=info.not_after,
        metadata={
            "kind": "mtls",
            "refreshable": False,
            "certificate": {
                "subject": info.subject,
                "issuer": info.issuer,
                "notAfter": iso(info.not_after),
                "fingerprintSha256": info.fingerprint_sha256,
            },
        },
    )


@contextlib.contextmanager
def _ephemeral_file(data: bytes) -> Iterator[str]:
    """A path holding ``data`` for the duration of the block, in memory when the OS allows."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None:
        fd = memfd_create("cuervo-fabric-client-cert", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    folder = tempfile.mkdtemp(prefix="cuervo-fabric-")  # mode 0700
    path = os.path.join(folder, "client.pem")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def ssl_context(secret: dict[str, Any]) -> ssl.SSLContext:
    """A client ``SSLContext`` presenting the sealed certificate, trusting the usual CAs.

    The trust store follows httpx: ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` when set, else certifi.
    """
    if os.environ.get("SSL_CERT_FILE"):
        ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    elif os.environ.get("SSL_CERT_DIR"):
        ctx = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    else:
        import certifi

        ctx = ssl.create_default_context(cafile=certifi.where())
    password = secrets.token_bytes(32).hex().encode()
    blob = secret["cert_pem"].encode() + encrypted_key_pem(secret["key_pem"], password)
    with _ephemeral_file(blob) as path:
        ctx.load_cert_chain(path, password=password)
    return ctx


class MtlsTransport(httpx.BaseTransport):
    """An httpx transport that builds its TLS client context on the first request.

    Lazy, so that a missing or undecryptable credential surfaces as the request's error (and thus
    as the call's ConnectorResult), not while the connector is being built.
    """

    def __init__(self, load_secret: Callable[[], dict[str, Any]]) -> None:
        self._load = load_secret
        self._inner: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:
            self._inner = httpx.HTTPTransport(verify=ssl_context(self._load()))
        return self._inner.handle_request(request)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
