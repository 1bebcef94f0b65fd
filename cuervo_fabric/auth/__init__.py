"""Credential flows against providers (internal): everything that obtains, renews or revokes a secret.

* ``oauth2``: authorization code + PKCE (S256) through a loopback redirect (``loopback``, RFC 8252),
  the device authorization grant (RFC 8628), the refresh grant and revocation (RFC 7009).
* ``service_account``: Google-style service accounts (a signed JWT assertion exchanged for an
  access token, RFC 7523) and GitHub App installation tokens.
* ``mtls``: client certificates, handed to the gateway's HTTP client as an ``ssl.SSLContext``.
* ``renew``: one entry point per concern for the rest of the fabric: ``renew`` (refresh any
  refreshable credential), ``revoke`` (at the provider, before deletion) and ``describe``.

Secrets only ever leave this package sealed by the vault (``services.credentials``); errors and
notices never quote them.
"""
