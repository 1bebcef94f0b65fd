"""mTLS end to end: a TLS server on loopback that requires a client certificate from our CA."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.auth._pki import Issued, make_ca, write
from tests.auth.conftest import install, secrets_in, store_bytes
from tests.helpers import cli, instance_row


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        peer = self.connection.getpeercert()  # type: ignore[attr-defined]
        subject = dict(pair[0] for pair in peer["subject"]) if peer else {}
        body = json.dumps({"clientCN": subject.get("commonName"), "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Any]:
    ca = make_ca()
    other_ca = make_ca("someone else's CA")
    return {
        "ca": ca,
        "server": ca.issue("127.0.0.1", server=True),
        "client": ca.issue("cuervo-client", server=False),
        "stranger": other_ca.issue("stranger", server=False),
        "ca_file": write(tmp_path / "ca.pem", ca.cert_pem),
    }


@pytest.fixture
def tls_server(tmp_path: Path, pki: dict[str, Any]) -> Iterator[str]:
    server_cert: Issued = pki["server"]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(
        write(tmp_path / "server.pem", server_cert.cert_pem),
        write(tmp_path / "server.key", server_cert.key_pem()),
    )
    ctx.load_verify_locations(pki["ca_file"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _install(url: str) -> None:
    install("http", "--name", "secure", "--set", f"base_url={url}", "--set", "auth_type=mtls")


def test_client_certificate_is_presented_from_the_vault(
    home: Path, tmp_path: Path, pki: dict[str, Any], tls_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--cert/--key are sealed in the vault; exec presents them; the key never lands on disk."""
    _install(tls_server)
    client: Issued = pki["client"]
    cert = write(tmp_path / "client.pem", client.cert_pem)
    key = write(tmp_path / "client.key", client.key_pem(b"correct horse"))
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca_file"]))
    login = cli("--json", "auth", "login", "secure", "--cert", str(cert), "--key", str(key),
                input="correct horse\n")  # fmt: skip
    assert login.exit_code == 0, login.stdout + login.stderr
    cred = json.loads(login.stdout)["credential"]
    assert cred["certificate"]["subject"] == "CN=cuervo-client"
    assert cred["kind"] == "mtls"
    assert cred["expiresInS"] > 29 * 86400

    key.unlink()  # the vault's copy is what counts now
    result = cli("--json", "exec", "secure", "request", "-p", "path=/hello")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["data"]["body"] == {"clientCN": "cuervo-client", "path": "/hello"}

    key_body = client.key_pem().decode().splitlines()[1:-1]
    assert secrets_in([login.stdout, login.stderr, result.stdout, result.stderr], key_body) == []
    assert secrets_in(store_bytes(home), key_body) == []


def test_a_server_rejects_a_call_without_our_certificate(
    home: Path, tmp_path: Path, pki: dict[str, Any], tls_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A certificate from another CA is refused by the server: the call fails as UPSTREAM_ERROR."""
    _install(tls_server)
    stranger: Issued = pki["stranger"]
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca_file"]))
    login = cli(
        "--json", "auth", "login", "secure", "--no-verify",
        "--cert", str(write(tmp_path / "s.pem", stranger.cert_pem)),
        "--key", str(write(tmp_path / "s.key", stranger.key_pem())),
    )  # fmt: skip
    assert login.exit_code == 0, login.stdout
    result = cli("--json", "exec", "secure", "request", "-p", "path=/")
    assert result.exit_code != 0
    assert json.loads(result.stdout)["error"]["code"] == "UPSTREAM_ERROR"


def test_a_key_that_does_not_match_the_certificate_changes_nothing(
    home: Path, tmp_path: Path, pki: dict[str, Any]
) -> None:
    """The certificate and key must pair: INVALID_INPUT before anything is stored."""
    _install("https://127.0.0.1:9")
    before = instance_row(home, "secure")
    result = cli(
        "--json", "auth", "login", "secure",
        "--cert", str(write(tmp_path / "c.pem", pki["client"].cert_pem)),
        "--key", str(write(tmp_path / "k.key", pki["stranger"].key_pem())),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "does not belong" in json.loads(result.stdout)["error"]["message"]
    assert instance_row(home, "secure") == before
