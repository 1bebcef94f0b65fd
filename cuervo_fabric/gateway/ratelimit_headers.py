"""What providers say about their rate limits, read from each response's headers.

Conventions understood (all case-insensitive):

* GitHub: ``x-ratelimit-limit/remaining/used/reset`` (reset in epoch seconds) and
  ``x-ratelimit-resource``. A 403 or 429 with ``x-ratelimit-remaining: 0`` is the primary limit
  (wait until reset); a 403/429 whose message says "secondary rate limit" is the secondary limit
  (``retry-after`` when given, else at least one minute, as GitHub's docs say).
* Jira: ``X-RateLimit-Limit/Remaining`` with ``X-RateLimit-Reset`` as an ISO-8601 time, and
  ``Retry-After`` on 429.
* Slack: ``Retry-After`` (seconds) on 429.
* OpenAI: ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, resets as durations (``6m0s``,
  ``1s``, ``20ms``).
* Anthropic: ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,
  reset}``, resets in RFC 3339.
* IETF httpapi drafts: ``RateLimit-Policy: "default";q=100;w=60`` with ``RateLimit: "default";r=50;t=30``,
  the older ``RateLimit: limit=100, remaining=50, reset=30`` and ``RateLimit-Limit/-Remaining/-Reset``
  (reset in seconds).
* ``Retry-After`` in seconds or as an HTTP date, anywhere.

Only the standard library: this runs on every response.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cuervo_fabric.domain.gateway import ProviderLimit
from cuervo_fabric.gateway.retry import parse_retry_after

if TYPE_CHECKING:
    import httpx

    from cuervo_fabric.gateway.pipeline import Call
    from cuervo_fabric.ports import GatewayState

__all__ = [
    "SECONDARY_LIMIT_WAIT_S",
    "parse_duration",
    "parse_provider_limits",
    "provider_limits_hook",
    "rate_limit_wait",
]

#: GitHub: "If you exceed a secondary rate limit and there is no retry-after header, wait at least
#: one minute".
SECONDARY_LIMIT_WAIT_S = 60.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECONDARY = ("secondary rate limit", "abuse detection")
_OPENAI_RESOURCES = ("requests", "tokens")
_ANTHROPIC_RESOURCES = ("requests", "tokens", "input-tokens", "output-tokens")


def parse_duration(text: str) -> float | None:
    """``"6m0s"`` -> 360.0, ``"20ms"`` -> 0.02, ``"1h2m3.5s"``, plain seconds ``"12"``."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    total, pos = 0.0, 0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        value, unit = float(match.group(1)), match.group(2)
        total += value * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
        pos = match.end()
    return total if pos == len(text) and pos else None


def _from_iso(text: str) -> float | None:
    from cuervo_fabric.domain.timeutil import parse_iso

    try:
        return parse_iso(text.strip())
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)  # the usual case; int() ignores surrounding whitespace
    except ValueError:
        pass
    try:
        return int(float(text))
    except ValueError:
        return None


def _reset_instant(text: str | None, now: float) -> tuple[float | None, str]:
    """An ``x-ratelimit-reset`` value: epoch seconds (GitHub), epoch ms, ISO-8601 (Jira) or a delta."""
    if not text:
        return None, "generic"
    instant, source, delta = _reset_kind(text)
    if delta:
        return now + (instant or 0.0), source
    return instant, source


@functools.lru_cache(maxsize=256)
def _reset_kind(text: str) -> tuple[float | None, str, bool]:
    """``(value, source, is a delay)`` of a reset header (the same text repeats until the reset)."""
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        return _from_iso(value), "jira", False
    if number > 1e12:
        return number / 1000, "generic", False
    if number > 1e9:
        return number, "github", False
    return number, "generic", True


def _sf_items(value: str) -> list[tuple[str, dict[str, str]]]:
    """A tiny RFC 8941 list reader: ``"name";a=1;b=2, other;a=3`` (enough for RateLimit fields)."""
    items = []
    for part in value.split(","):
        bits = [b.strip() for b in part.split(";")]
        if not bits or not bits[0]:
            continue
        name = bits[0].strip('"')
        params = {}
        for bit in bits[1:]:
            key, _, val = bit.partition("=")
            params[key.strip().lower()] = val.strip().strip('"')
        items.append((name, params))
    return items


#: Above this, a "reset" number is an epoch time, not a delay (GitLab sends ``RateLimit-Reset``
#: as epoch seconds; no provider asks to wait 30 years).
_EPOCH_THRESHOLD = 1_000_000_000


def _delta_or_epoch(value: int, now: float) -> float:
    return float(value) if value > _EPOCH_THRESHOLD else now + value


def _ietf(h: Mapping[str, str], now: float) -> list[ProviderLimit]:
    out: list[ProviderLimit] = []
    field = h.get("ratelimit")
    policy = h.get("ratelimit-policy")
    if field and "=" in field and ";" not in field and "remaining=" in field:
        # draft-07: RateLimit: limit=100, remaining=50, reset=30
        params = dict(p.strip().split("=", 1) for p in field.split(",") if "=" in p)
        reset = _int(params.get("reset"))
        out.append(
            ProviderLimit(
                source="ietf",
                limit=_int(params.get("limit")),
                remaining=_int(params.get("remaining")),
                reset_at=None if reset is None else now + reset,
            )
        )
    elif field:
        quotas = {name: _int(p.get("q")) for name, p in _sf_items(policy or "")}
        for name, params in _sf_items(field):
            reset = _int(params.get("t"))
            out.append(
                ProviderLimit(
                    source="ietf",
                    resource=name or "default",
                    limit=quotas.get(name),
                    remaining=_int(params.get("r")),
                    reset_at=None if reset is None else now + reset,
                )
            )
    elif "ratelimit-remaining" in h or "ratelimit-limit" in h:
        reset = _int(h.get("ratelimit-reset"))
        out.append(
            ProviderLimit(
                source="ietf",
                limit=_int(h.get("ratelimit-limit")),
                remaining=_int(h.get("ratelimit-remaining")),
                reset_at=None if reset is None else _delta_or_epoch(reset, now),
            )
        )
    return out


def _relevant(headers: Mapping[str, str]) -> dict[str, str]:
    """The rate-limit headers only, names in lower case (one pass; nothing else is decoded)."""
    raw = getattr(headers, "raw", None)
    if raw is not None:  # httpx.Headers: bytes pairs, cheaper than decoding every header
        out: dict[str, str] = {}
        for key, value in raw:
            name = key.lower()
            if b"ratelimit" in name or name == b"retry-after":
                out[name.decode("latin-1")] = value.decode("latin-1")
        return out
    return {
        k.lower(): v for k, v in headers.items() if "ratelimit" in k.lower() or k.lower() == "retry-after"
    }


def parse_provider_limits(headers: Mapping[str, str], now: float) -> list[ProviderLimit]:
    """Every limit the headers describe, one ``ProviderLimit`` per resource (no blocking yet)."""
    return _parse(_relevant(headers), now)


#: The classic ``X-RateLimit-*`` names (GitHub, Jira, most APIs).
_CLASSIC = frozenset(
    {
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-resource",
        "x-ratelimit-used",
    }
)
#: (resource, remaining, reset, limit) header names of OpenAI and Anthropic, built once.
_OPENAI_NAMES = tuple(
    (r, f"x-ratelimit-remaining-{r}", f"x-ratelimit-reset-{r}", f"x-ratelimit-limit-{r}")
    for r in _OPENAI_RESOURCES
)
_ANTHROPIC_NAMES = tuple(
    (
        r,
        f"anthropic-ratelimit-{r}-remaining",
        f"anthropic-ratelimit-{r}-reset",
        f"anthropic-ratelimit-{r}-limit",
    )
    for r in _ANTHROPIC_RESOURCES
)


def _parse(h: dict[str, str], now: float) -> list[ProviderLimit]:
    out: list[ProviderLimit] = []
    if not h:
        return out
    remaining, limit = h.get("x-ratelimit-remaining"), h.get("x-ratelimit-limit")
    if remaining is not None or limit is not None:
        reset_at, source = _reset_instant(h.get("x-ratelimit-reset"), now)
        if "x-ratelimit-resource" in h or "x-ratelimit-used" in h:
            source = "github"
        out.append(
            ProviderLimit(
                source,
                h.get("x-ratelimit-resource", "default"),
                _int(limit),
                _int(remaining),
                reset_at,
            )
        )
        if _CLASSIC.issuperset(h):  # nothing else to look for
            return out
    for res, remaining_name, reset_name, limit_name in _OPENAI_NAMES:
        if remaining_name in h:
            delta = parse_duration(h.get(reset_name, ""))
            out.append(
                ProviderLimit(
                    source="openai",
                    resource=res,
                    limit=_int(h.get(limit_name)),
                    remaining=_int(h[remaining_name]),
                    reset_at=None if delta is None else now + delta,
                )
            )
    for res, remaining_name, reset_name, limit_name in _ANTHROPIC_NAMES:
        if remaining_name in h:
            reset = h.get(reset_name)
            out.append(
                ProviderLimit(
                    source="anthropic",
                    resource=res,
                    limit=_int(h.get(limit_name)),
                    remaining=_int(h[remaining_name]),
                    reset_at=_from_iso(reset) if reset else None,
                )
            )
    if "ratelimit" in h or "ratelimit-remaining" in h or "ratelimit-limit" in h:
        out.extend(_ietf(h, now))
    return out


def rate_limit_wait(
    status: int, headers: Mapping[str, str], body: str, now: float
) -> tuple[float, ProviderLimit] | None:
    """When a response is a provider's rate-limit refusal: how long to wait, and what to store.

    ``None`` for anything else (including a 403 that is a real permission error).
    """
    if status not in (403, 429):
        return None
    h = _relevant(headers)
    limits = _parse(h, now)
    exhausted = [lim for lim in limits if lim.remaining == 0 and lim.reset_at is not None]
    retry_after = parse_retry_after(h.get("retry-after"), now)
    secondary = bool(body) and any(s in body.lower() for s in _SECONDARY)
    resource = exhausted[0].resource if exhausted else (limits[0].resource if limits else "default")
    source = exhausted[0].source if exhausted else (limits[0].source if limits else "retry-after")
    if retry_after is not None:
        wait, why = retry_after, f"provider answered {status} with Retry-After {retry_after:g}s"
    elif exhausted:
        reset = max(lim.reset_at or now for lim in exhausted)
        wait, why = max(0.0, reset - now), f"{source} {resource} limit exhausted (remaining 0)"
    elif secondary:
        wait, why = SECONDARY_LIMIT_WAIT_S, "GitHub secondary rate limit"
    elif status == 429:
        return None  # rate limited, but the provider did not say for how long
    else:
        return None  # a 403 with quota left and no rate-limit message: a permission error
    if secondary and "secondary" not in why:
        why = f"GitHub secondary rate limit ({why})"
    base = exhausted[0] if exhausted else (limits[0] if limits else ProviderLimit(source=source))
    return wait, ProviderLimit(
        source=base.source,
        resource=resource,
        limit=base.limit,
        remaining=base.remaining,
        reset_at=base.reset_at,
        blocked_until=now + wait,
        reason=why,
    )


def provider_limits_hook(
    state: GatewayState, clock: Callable[[], float]
) -> Callable[[Call, httpx.Response], None]:
    """The ``ResponseHook`` that feeds the limiter.

    Figures go to the call (``metadata.rateLimitRemaining``/``rateLimitResetAt`` and the audit row);
    a refusal, or a default resource at remaining 0, stores ``blocked_until`` at once so every
    other process waits too.
    """

    def hook(call: Call, resp: httpx.Response) -> None:
        status = resp.status_code
        h = _relevant(resp.headers)
        if not h and status not in (403, 429):
            return
        now = clock()
        limits = _parse(h, now)
        block: ProviderLimit | None = None
        if status in (403, 429):
            refusal = rate_limit_wait(status, h, resp.text, now)
            if refusal is not None:
                block = refusal[1]
        tight: ProviderLimit | None = None
        for lim in limits:
            call.provider_limits[lim.resource] = lim
            remaining = lim.remaining
            if remaining is None:
                continue
            if tight is None or remaining < (tight.remaining or 0):
                tight = lim
            if (
                block is None
                and remaining == 0
                and lim.reset_at is not None
                and lim.reset_at > now
                and lim.resource in ("default", "core", "requests")
            ):
                block = ProviderLimit(
                    source=lim.source,
                    resource=lim.resource,
                    limit=lim.limit,
                    remaining=0,
                    reset_at=lim.reset_at,
                    blocked_until=lim.reset_at,
                    reason=f"{lim.source} {lim.resource} limit exhausted (remaining 0)",
                )
        if tight is not None:
            call.metadata.rate_limit_remaining = tight.remaining
            call.metadata.rate_limit_reset_at = _iso(round(tight.reset_at, 3)) if tight.reset_at else None
        if block is not None:
            state.provider_block(call.instance.tenant_id, call.instance.id, block, now)
        if call.trace is None:
            return
        facts: dict[str, Any] = {
            lim.resource: f"{lim.remaining}/{lim.limit if lim.limit is not None else '?'}"
            for lim in limits
            if lim.remaining is not None
        }
        if block is not None:
            facts["blockedForMs"] = int(((block.blocked_until or now) - now) * 1000)
            facts["reason"] = block.reason
        if facts:
            call.explain(
                "provider-limits", source=(limits[0].source if limits else block and block.source), **facts
            )

    return hook


@functools.lru_cache(maxsize=256)
def _iso(epoch: float) -> str:
    """ISO text of a reset instant (the same few instants repeat call after call)."""
    from cuervo_fabric.domain.timeutil import iso

    return iso(epoch)
