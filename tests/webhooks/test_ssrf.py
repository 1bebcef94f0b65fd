"""The SSRF guard: which addresses are refused, and how a checked target is pinned."""

from __future__ import annotations

import pytest

from cuervo_fabric.errors import InvalidInputError, PermissionDeniedError
from cuervo_fabric.webhooks.ssrf import TargetGuard, forbidden_address


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.9.9.9",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::",
    ],
)
def test_private_loopback_link_local_and_special_addresses_are_forbidden(address: str):
    """Anything that is not a global unicast address is refused."""
    assert forbidden_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str):
    """Global unicast addresses pass."""
    assert not forbidden_address(address)


def test_a_name_resolving_to_any_private_address_is_refused():
    """One private address among the answers is enough to refuse the name (no partial trust)."""
    answers = {"evil.example": ["93.184.216.34", "10.0.0.5"], "good.example": ["93.184.216.34"]}
    guard = TargetGuard(allow_private=False, resolver=lambda host, port: answers[host])
    with pytest.raises(PermissionDeniedError, match=r"10\.0\.0\.5"):
        guard.check("https://evil.example/hook")
    target = guard.check("https://good.example:8443/hook?x=1")
    assert target.url == "https://93.184.216.34:8443/hook?x=1"
    assert target.headers == {"Host": "good.example:8443"}
    assert target.extensions == {"sni_hostname": "good.example"}


def test_allowing_private_targets_skips_resolution_but_not_url_checks():
    """With allow_private_targets the URL is used as is; malformed URLs are still refused."""
    guard = TargetGuard(allow_private=True, resolver=lambda host, port: pytest.fail("no lookup expected"))
    assert guard.check("http://127.0.0.1:9/x").url == "http://127.0.0.1:9/x"
    for bad in ("ftp://h/x", "http:///x", "http://user:pw@host/x", "http://host:99999/x"):
        with pytest.raises(InvalidInputError):
            guard.check(bad)
