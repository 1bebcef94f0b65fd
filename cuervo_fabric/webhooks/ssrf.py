"""The SSRF guard of outgoing webhooks: only public addresses, unless the config allows private ones.

A URL's host is resolved and **every** address must be global (not private, loopback, link-local,
shared/CGNAT, reserved, multicast or unspecified; IPv4-mapped IPv6 is checked as IPv4). The request
then goes to the address that was checked (the ``Host`` header and TLS SNI keep the name), so a DNS
answer that changes between the check and the connection (rebinding) cannot redirect it.
``webhooks.allow_private_targets = true`` turns the guard off (tests, private networks).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cuervo_fabric.errors import InvalidInputError, PermissionDeniedError

__all__ = ["Target", "TargetGuard", "forbidden_address", "validate_url"]

Resolver = Callable[[str, int], list[str]]


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def forbidden_address(address: str) -> bool:
    """Whether an IP address is one a webhook must not reach without ``allow_private_targets``."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_unspecified


def validate_url(url: str) -> tuple[str, str, int]:
    """Check the URL's shape; returns ``(scheme, host, port)``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInputError(f"invalid URL {url!r}: {exc}", details={"field": "url"}) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"invalid URL {url!r}: use http:// or https:// with a host", details={"field": "url"}
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError(
            "put credentials in --header, not in the URL (URLs are shown and logged)",
            details={"field": "url"},
        )
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send: the URL to connect to, plus headers and request extensions that keep the name."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


class TargetGuard:
    """Checks and pins webhook targets; resolutions are cached briefly."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = _resolve, ttl_s: float = 30.0) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.ttl_s = ttl_s
        self._cache: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def _addresses(self, host: str, port: int) -> list[str]:
        key = (host, port)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        try:
            ipaddress.ip_address(host)
            found = [host]
        except ValueError:
            try:
                found = self.resolver(host, port)
            except OSError as exc:
                raise InvalidInputError(
                    f"cannot resolve {host}: {exc}", details={"field": "url"}, retryable=True
                ) from exc
        with self._lock:
            self._cache[key] = (now + self.ttl_s, found)
        return found

    def check(self, url: str) -> Target:
        """The target to send to; ``PERMISSION_DENIED`` for a private address when not allowed."""
        scheme, host, port = validate_url(url)
        if self.allow_private:
            return Target(url)
        addresses = self._addresses(host, port)
        bad = [a for a in addresses if forbidden_address(a)]
        if bad or not addresses:
            raise PermissionDeniedError(
                f"refusing webhook target {host}: it resolves to a private, loopback or link-local "
                f"address ({', '.join(bad) or 'none'}); set webhooks.allow_private_targets = true "
                "to allow it",
                details={"field": "url", "host": host},
            )
        pinned = addresses[0]
        parts = urlsplit(url)
        literal = f"[{pinned}]" if ":" in pinned else pinned
        netloc = literal if parts.port is None else f"{literal}:{parts.port}"
        headers = {"Host": parts.netloc}
        extensions: dict[str, Any] = {"sni_hostname": host} if scheme == "https" else {}
        return Target(urlunsplit(parts._replace(netloc=netloc)), headers, extensions)
