"""Service accounts end to end: a Google-style JWT bearer exchange and a GitHub App.

The token endpoints verify the signed assertions with the public key (``cryptography`` directly),
and the APIs accept only tokens those endpoints issued and that have not expired.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

from cryptography.hazmat.primitives.asymmetric import rsa

from cuervo_fabric.domain.timeutil import iso
from cuervo_fabric.testing import LoopbackServer, RecordedRequest, Reply
from tests.auth._pki import decode_jwt, rsa_key, rsa_pem
from tests.auth.conftest import install, secrets_in, store_bytes
from tests.helpers import cli, instance_row


class TokenIssuer:
    """Issued tokens with their expiry; an API that accepts only live ones."""

    def __init__(self) -> None:
        self.tokens: dict[str, float] = {}
        self.used: list[str] = []
        self.expired_seen = 0
        self.lock = threading.Lock()

    def issue(self, ttl: float) -> str:
        token = "tok_" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.time() + ttl
        return token

    def api(self, req: RecordedRequest) -> Reply:
        token = req.headers.get("authorization", "").removeprefix("Bearer ")
        with self.lock:
            self.used.append(token)
            expiry = self.tokens.get(token)
            if expiry is not None and expiry <= time.time():
                self.expired_seen += 1
                return Reply(401, {"message": "token expired"})
        if expiry is None:
            return Reply(401, {"message": "Bad credentials"})
        return Reply(200, {"ok": True})


def _google_key_file(tmp_path: Path, key: rsa.RSAPrivateKey, token_uri: str) -> Path:
    path = tmp_path / "sa.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "demo",
                "private_key_id": "kid-1",
                "private_key": rsa_pem(key).decode(),
                "client_email": "bot@demo.iam.gserviceaccount.com",
                "client_id": "1234",
                "token_uri": token_uri,
            }
        )
    )
    return path


def test_google_service_account_signs_a_jwt_and_uses_the_token(home: Path, tmp_path: Path) -> None:
    """--service-account key.json: an RS256 assertion exchanged at token_uri; exec sends the token."""
    key = rsa_key()
    issuer = TokenIssuer()
    assertions: list[dict[str, object]] = []
    with LoopbackServer() as server:

        def token_endpoint(req: RecordedRequest) -> Reply:
            form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                return Reply(400, {"error": "unsupported_grant_type"})
            try:
                header, claims = decode_jwt(form["assertion"], key.public_key())
            except Exception:
                return Reply(400, {"error": "invalid_grant", "error_description": "bad signature"})
            assertions.append({**claims, "kid": header.get("kid")})
            return Reply(
                200, {"access_token": issuer.issue(3600), "expires_in": 3600, "token_type": "Bearer"}
            )

        server.route("POST", "/token", token_endpoint)
        server.route("GET", "/", issuer.api)
        server.route("GET", "/things", issuer.api)
        keyfile = _google_key_file(tmp_path, key, server.url + "/token")
        install(
            "http", "--name", "gcp", "--set", f"base_url={server.url}", "--set", "auth_type=service_account",
            "--set", "scopes=https://www.googleapis.com/auth/cloud-platform",
        )  # fmt: skip
        login = cli("--json", "auth", "login", "gcp", "--service-account", str(keyfile))
        assert login.exit_code == 0, login.stdout + login.stderr
        cred = json.loads(login.stdout)["credential"]
        assert cred["kind"] == "google_service_account"
        assert cred["clientEmail"] == "bot@demo.iam.gserviceaccount.com"
        assert cred["scopes"] == ["https://www.googleapis.com/auth/cloud-platform"]

        claims = assertions[0]
        assert claims["iss"] == "bot@demo.iam.gserviceaccount.com"
        assert claims["aud"] == server.url + "/token"
        assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
        assert claims["kid"] == "kid-1"
        assert int(claims["exp"]) - int(claims["iat"]) == 3600  # type: ignore[call-overload]

        result = cli("--json", "exec", "gcp", "request", "-p", "path=/things")
        assert result.exit_code == 0, result.stdout
        assert issuer.used[-1] in issuer.tokens
        again = cli("--json", "auth", "refresh", "gcp")
        assert again.exit_code == 0, again.stdout
        assert len(assertions) == 2
        texts = [login.stdout, login.stderr, result.stdout, result.stderr, again.stdout, again.stderr]
        secret_values = [*issuer.tokens, rsa_pem(key).decode().splitlines()[1]]
        assert secrets_in(texts, secret_values) == []
        assert secrets_in(store_bytes(home), secret_values) == []


def test_github_app_installation_tokens_refresh_before_expiry_and_revoke(home: Path, tmp_path: Path) -> None:
    """A GitHub App key mints installation tokens; one about to expire is replaced before use."""
    key = rsa_key()
    issuer = TokenIssuer()
    ttls = [6.0, 3600.0]
    jwts: list[dict[str, object]] = []
    with LoopbackServer() as server:

        def access_tokens(req: RecordedRequest) -> Reply:
            bearer = req.headers.get("authorization", "").removeprefix("Bearer ")
            try:
                _, claims = decode_jwt(bearer, key.public_key())
            except Exception:
                return Reply(401, {"message": "A JSON web token could not be decoded"})
            jwts.append(claims)
            if claims.get("iss") != "12345" or int(claims["exp"]) - int(claims["iat"]) > 600:
                return Reply(401, {"message": "'Issuer' claim ('iss') must be the app id"})
            ttl = ttls.pop(0) if len(ttls) > 1 else ttls[0]
            token = issuer.issue(ttl)
            return Reply(
                201,
                {
                    "token": token,
                    "expires_at": iso(issuer.tokens[token]),
                    "permissions": {"contents": "read"},
                },
            )

        server.route("POST", "/app/installations/678/access_tokens", access_tokens)
        server.route("GET", "/", issuer.api)
        server.route("GET", "/repos", issuer.api)
        server.route("DELETE", "/installation/token", Reply(204))
        app_file = tmp_path / "app.json"
        app_file.write_text(
            json.dumps({"app_id": "12345", "installation_id": "678", "private_key": rsa_pem(key).decode()})
        )
        install(
            "http", "--name", "ghapp", "--set", f"base_url={server.url}", "--set", "auth_type=service_account"
        )
        login = cli("--json", "auth", "login", "ghapp", "--service-account", str(app_file))
        assert login.exit_code == 0, login.stdout + login.stderr
        cred = json.loads(login.stdout)["credential"]
        assert (cred["kind"], cred["appId"], cred["installationId"]) == ("github_app", "12345", "678")
        assert cred["refreshable"] is True
        first = issuer.used[-1]  # the login's health check

        time.sleep(3.2)  # the 6 s token is now inside its refresh window (half its life)
        result = cli("--json", "exec", "ghapp", "request", "-p", "path=/repos", "--explain")
        assert result.exit_code == 0, result.stdout
        assert len(jwts) == 2
        assert issuer.used[-1] != first
        assert issuer.expired_seen == 0
        assert {"stage": "credentials", "refreshed": True, "reason": "expiry"} in json.loads(result.stdout)[
            "explain"
        ]

        logout = cli("--json", "auth", "logout", "ghapp")
        assert json.loads(logout.stdout)["revoked"] == ["installation_token"]
        deleted = server.calls("DELETE", "/installation/token")
        assert deleted[0].headers["authorization"] == f"Bearer {issuer.used[-1]}"


def test_a_pem_without_app_settings_is_refused_and_changes_nothing(home: Path, tmp_path: Path) -> None:
    """A GitHub App key needs app_id and installation_id: INVALID_INPUT, the instance untouched."""
    pem = tmp_path / "app.pem"
    pem.write_bytes(rsa_pem(rsa_key()))
    install(
        "http", "--name", "x", "--set", "base_url=http://127.0.0.1:9", "--set", "auth_type=service_account"
    )
    before = instance_row(home, "x")
    result = cli("--json", "auth", "login", "x", "--service-account", str(pem))
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["field"] == "app_id"
    assert instance_row(home, "x") == before
