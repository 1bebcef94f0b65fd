r"""The connector lifecycle state machine (the seed's diagram), enforced here and nowhere else.

::

    (registry) --install--> installed --authenticate--> authenticating --ok--> active
                                                                       \--fail--> error
    active --> paused (manual) | error (auto) | degraded (partial)
    paused --resume--> active;  error/degraded --recover--> active;  error --re-auth--> authenticating
    any live state --uninstall--> uninstalling --> uninstalled
"""

from __future__ import annotations

from cuervo_fabric.domain.models import InstanceStatus as S
from cuervo_fabric.errors import InvalidStateError

__all__ = ["ALLOWED", "can_transition", "check_transition"]

ALLOWED: dict[S, frozenset[S]] = {
    S.INSTALLED: frozenset({S.AUTHENTICATING, S.UNINSTALLING}),
    S.AUTHENTICATING: frozenset({S.ACTIVE, S.ERROR, S.UNINSTALLING}),
    S.ACTIVE: frozenset({S.PAUSED, S.ERROR, S.DEGRADED, S.AUTHENTICATING, S.UNINSTALLING}),
    S.PAUSED: frozenset({S.ACTIVE, S.UNINSTALLING}),
    S.ERROR: frozenset({S.AUTHENTICATING, S.ACTIVE, S.UNINSTALLING}),
    S.DEGRADED: frozenset({S.ACTIVE, S.ERROR, S.PAUSED, S.AUTHENTICATING, S.UNINSTALLING}),
    S.UNINSTALLING: frozenset({S.UNINSTALLED}),
    S.UNINSTALLED: frozenset(),
}

#: What each verb needs, for error messages a person can act on.
_VERB_HINT = {
    S.PAUSED: "only an active or degraded instance can be paused",
    S.ACTIVE: "resume needs a paused instance; recovery needs an error or degraded one",
    S.AUTHENTICATING: "authenticate an installed, active, degraded or errored instance",
    S.UNINSTALLING: "the instance is already uninstalled",
}


def can_transition(current: S, target: S) -> bool:
    """Whether the machine allows ``current -> target``."""
    return target in ALLOWED[current]


def check_transition(current: S, target: S, *, instance: str = "") -> None:
    """Raise ``INVALID_STATE`` unless ``current -> target`` is allowed."""
    if can_transition(current, target):
        return
    who = f"instance {instance!r}" if instance else "instance"
    hint = _VERB_HINT.get(target, "")
    msg = f"{who} is {current.value}; cannot move to {target.value}"
    raise InvalidStateError(
        f"{msg} ({hint})" if hint else msg,
        details={"currentStatus": current.value, "targetStatus": target.value},
    )
