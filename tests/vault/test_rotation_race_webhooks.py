"""The key fence for sealed webhook secrets: one written while ``vault rotate-key`` runs elsewhere
is never lost.

The same two ways as for credentials (``test_rotation_race.py``): a secret written *after* the
rotation committed by a process still holding the old key (sealed with the retired key: incoming
webhooks could never be verified again, outgoing deliveries never signed), and one written
*between* the rotation's read and its commit (overwritten by the re-wrap of the stale row). Real
stores on both backends (each ``Fabric`` is a process of its own: its own connection and vault),
real key files, real ``vault rotate-key`` and ``webhooks test`` processes, a real HTTP receiver.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from cuervo_fabric.bootstrap import Fabric
from cuervo_fabric.config import load_settings
from cuervo_fabric.domain.models import ConnectorInstance
from cuervo_fabric.domain.subscriptions import Sealed
from cuervo_fabric.errors import AuthFailedError
from cuervo_fabric.ports import CredentialRecord, WebhookStore
from cuervo_fabric.sdk import IncomingWebhook, StandardWebhooks
from cuervo_fabric.services.webhooks import WebhookService
from cuervo_fabric.testing import LoopbackServer, RecordedRequest, Reply
from tests.conftest import cli_env
from tests.contract.backends import pg_schema, schema_url
from tests.vault.conftest import NO_KEYRING, run

__all__ = ["pg_schema"]  # fixtures used here

BASE = "http://base"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def profile(request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The backend as a profile name ('' = the default SQLite profile); the master key lives in a
    file (no CUERVO_FABRIC_KEY, no keyring), so a running process can read a rotated key again."""
    monkeypatch.delenv("CUERVO_FABRIC_KEY")
    for name, value in NO_KEYRING.items():
        monkeypatch.setenv(name, value)
    allowed = run(home, "config", "set", "webhooks.allow_private_targets", "true", key=None)
    assert allowed.returncode == 0, allowed.stderr
    if request.param == "sqlite":
        return ""
    schema = request.getfixturevalue("pg_schema")
    set_url = run(home, "config", "set", "profiles.pg.database_url", schema_url(schema), key=None)
    assert set_url.returncode == 0, set_url.stderr
    return "pg"


@pytest.fixture
def process(profile: str) -> Iterator[Callable[[], Fabric]]:
    """Starts a "process": a ``Fabric`` with its own store connection and its own vault."""
    opened: list[Fabric] = []

    def start() -> Fabric:
        fabric = Fabric(load_settings(profile=profile or None), insecure_storage=True)
        opened.append(fabric)
        return fabric

    yield start
    for fabric in opened:
        if "store" in fabric.__dict__:
            fabric.store.close()


@pytest.fixture
def receiver() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        server.route("POST", "/hook", Reply(200))
        yield server


def _scope(profile: str) -> list[str]:
    return ["--profile", profile] if profile else []


def _github(home: Path, profile: str, fabric: Fabric, name: str = "gh") -> ConnectorInstance:
    installed = run(home, *_scope(profile), "connector", "install", "github", "--name", name, "--no-input",
                    key=None)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return next(i for i in fabric.store.list_instances(fabric.tenant) if i.name == name)


def _signed_test_delivery(home: Path, profile: str, server: LoopbackServer, sub_id: str) -> RecordedRequest:
    """``webhooks test`` in a process started now (it reads the key file): the request it sent."""
    before = len(server.calls("POST", "/hook"))
    sent = run(home, *_scope(profile), "--json", "webhooks", "test", sub_id, key=None)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    calls = server.calls("POST", "/hook")
    assert len(calls) == before + 1
    return calls[-1]


def _verifies(secret: str, req: RecordedRequest) -> None:
    StandardWebhooks().verify(secret, IncomingWebhook.build(req.headers, req.body))


def _every_sealed_secret_opens(fabric: Fabric) -> int:
    """Opens every sealed webhook secret with this (fresh) process's key; how many there are."""
    sealed = fabric.sealed_store()
    assert sealed is not None
    records = sealed.iter_sealed()
    for record in records:
        assert isinstance(fabric.vault.open(record), dict)
    return len(records)


class _RotatesBeforeWrite:
    """A real webhook store whose next secret update is preceded by ``rotate``: the rotation in
    another process commits after this process sealed the secret and before it writes it."""

    def __init__(self, hooks: WebhookStore, rotate: Callable[[], None]) -> None:
        self._hooks = hooks
        self._rotate: Callable[[], None] | None = rotate

    def update_subscription_secrets(
        self, tenant_id: str, subscription_id: str, sealed: Sealed, secret_hash: str
    ) -> bool:
        if self._rotate is not None:
            rotate, self._rotate = self._rotate, None
            rotate()
        return self._hooks.update_subscription_secrets(tenant_id, subscription_id, sealed, secret_hash)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hooks, name)


def test_webhook_secrets_written_with_the_retired_key_are_resealed_under_the_new_one(
    home: Path, profile: str, process: Callable[[], Fabric], receiver: LoopbackServer
) -> None:
    """A rotation commits while other processes still hold the old key. The store refuses a secret
    sealed with it (nothing written); `webhooks rotate-secret`, a new subscription and a new inbound
    endpoint then read the new key from the file and seal again. Everything opens afterwards, and
    the rotated subscription's deliveries are signed with both its secrets (the grace)."""
    a = process()
    sub, first = a.webhooks.create(a.tenant, receiver.url + "/hook", ["*"])
    old_id = a.vault.key_info().key_id
    assert a.store.vault_key_state() == (old_id, frozenset())  # the first sealed write made it current
    stale = process()  # loaded the old key before the rotation: creates a subscription and an endpoint
    assert stale.vault.key_info().key_id == old_id
    gh = _github(home, profile, stale)
    rotated: list[str] = []

    def rotate_in_another_process() -> None:
        b = process()
        rotated.append(b.credentials.rotate_master_key(sealed=b.sealed_store()).new_key_id)

    writer = WebhookService(
        a.event_store,
        cast(WebhookStore, _RotatesBeforeWrite(a.event_store, rotate_in_another_process)),
        a.registry,
        a.vault,
    )
    _, second = writer.rotate_secret(a.tenant, sub.id, grace_s=3600)
    new_id = rotated[0]
    assert a.store.vault_key_state() == (new_id, frozenset({old_id}))
    assert a.vault.key_info().key_id == new_id  # it read the new key and sealed again
    stored = a.event_store.get_subscription(a.tenant, sub.id)
    assert stored is not None
    assert stored.sealed.key_id == new_id
    assert stored.secret_hash != sub.secret_hash

    # The fence itself: the secret as sealed before the rotation is refused, nothing is written.
    with pytest.raises(AuthFailedError) as refused:
        a.event_store.update_subscription_secrets(a.tenant, sub.id, sub.sealed, sub.secret_hash)
    assert refused.value.details == {"reason": "master_key_retired", "keyId": old_id, "currentKeyId": new_id}
    assert a.event_store.get_subscription(a.tenant, sub.id) == stored

    assert stale.vault.key_info().key_id == old_id
    other, third = stale.webhooks.create(stale.tenant, receiver.url + "/hook", ["*"])
    assert other.sealed.key_id == new_id
    assert stale.vault.key_info().key_id == new_id
    # A second rotation; the endpoint is registered by a process that loaded the key before it.
    endpoint_owner = process()
    endpoint_owner.vault.key_info()
    r = process()
    again = r.credentials.rotate_master_key(sealed=r.sealed_store())
    shown = endpoint_owner.webhooks.endpoint(gh, base_url=BASE)
    assert shown["created"] is True
    registered = endpoint_owner.event_store.get_endpoint(gh.id)
    assert registered is not None
    assert registered.sealed.key_id == again.new_key_id

    fresh = process()
    assert _every_sealed_secret_opens(fresh) == 3
    assert fresh.webhooks.endpoint(gh, base_url=BASE)["secret"] == shown["secret"]
    req = _signed_test_delivery(home, profile, receiver, sub.id)
    assert len(req.headers["webhook-signature"].split()) == 2
    _verifies(second, req)
    _verifies(first, req)
    _verifies(third, _signed_test_delivery(home, profile, receiver, other.id))


def test_a_process_on_the_env_key_is_told_to_restart_and_writes_nothing(
    home: Path, profile: str, process: Callable[[], Fabric], receiver: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """CUERVO_FABRIC_KEY cannot change under a running process: its new subscription after a
    rotation fails with AUTH_FAILED saying what to do, and no subscription is stored."""
    import base64

    monkeypatch.setenv("CUERVO_FABRIC_KEY", base64.b64encode(b"e" * 32).decode())
    a = process()
    a.webhooks.create(a.tenant, receiver.url + "/hook", ["*"])
    b = process()
    result = b.credentials.rotate_master_key(b"f" * 32, sealed=b.sealed_store())
    with pytest.raises(AuthFailedError) as refused:
        a.webhooks.create(a.tenant, receiver.url + "/hook", ["*"])
    assert "set CUERVO_FABRIC_KEY to the new key and restart this process" in refused.value.message
    assert "webhook secret was not saved" in refused.value.message
    assert refused.value.details["currentKeyId"] == result.new_key_id
    assert len(a.webhooks.subscriptions(a.tenant)) == 1
    monkeypatch.setenv("CUERVO_FABRIC_KEY", base64.b64encode(b"f" * 32).decode())
    assert _every_sealed_secret_opens(process()) == 1


class _WritesAfterRead:
    """A real webhook store whose next read of every sealed secret (the rotation's) is followed by
    ``write``: another process committing between the rotation's read and its commit."""

    def __init__(self, hooks: WebhookStore, write: Callable[[], None]) -> None:
        self._hooks = hooks
        self._write: Callable[[], None] | None = write

    def iter_sealed(self) -> list[CredentialRecord]:
        rows = self._hooks.iter_sealed()
        if self._write is not None:
            write, self._write = self._write, None
            write()
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hooks, name)


def test_webhook_secrets_written_between_the_rotations_read_and_commit_survive(
    home: Path, profile: str, process: Callable[[], Fabric], receiver: LoopbackServer
) -> None:
    """A new endpoint secret and a new subscription land after the rotation read the sealed
    secrets: the compare-and-swap sees both, the rotation re-wraps them (it still holds the old key)
    and commits again. Both open afterwards with exactly what the writer stored."""
    a = process()
    gh = _github(home, profile, a)
    before = a.webhooks.endpoint(gh, base_url=BASE)
    sub, first = a.webhooks.create(a.tenant, receiver.url + "/hook", ["*"])
    written: dict[str, Any] = {}

    def other_process_writes() -> None:
        written["endpoint"] = a.webhooks.endpoint(gh, base_url=BASE, new_secret=True)
        written["sub"] = a.webhooks.create(a.tenant, receiver.url + "/hook", ["*"])

    b = process()
    sealed = b.sealed_store()
    assert sealed is not None
    result = b.credentials.rotate_master_key(
        sealed=cast(WebhookStore, _WritesAfterRead(sealed, other_process_writes))
    )

    assert result.rewrapped == 3  # the endpoint and subscription it read, and the one added under it
    assert written["endpoint"]["secret"] != before["secret"]
    added, added_secret = written["sub"]
    c = process()
    assert {r.encryption_key_id for r in c.event_store.iter_sealed()} == {result.new_key_id}
    assert c.store.vault_key_state() == (result.new_key_id, frozenset({result.old_key_id}))
    assert _every_sealed_secret_opens(c) == 3
    shown = c.webhooks.endpoint(gh, base_url=BASE)
    assert (shown["secret"], shown["url"]) == (written["endpoint"]["secret"], written["endpoint"]["url"])
    _verifies(first, _signed_test_delivery(home, profile, receiver, sub.id))
    _verifies(added_secret, _signed_test_delivery(home, profile, receiver, added.id))


# ---------------------------------------------------------------------- real processes
WRITER = """
import sys, time
from pathlib import Path
from cuervo_fabric.bootstrap import Fabric
from cuervo_fabric.config import load_settings

fabric = Fabric(load_settings(profile=sys.argv[1] or None), insecure_storage=True)
sid, stop, n = sys.argv[2], Path(sys.argv[3]), 0
while True:
    last = stop.exists()  # one more rotation after the stop file: it starts after every key rotation
    n += 1
    _, secret = fabric.webhooks.rotate_secret(fabric.tenant, sid, grace_s=0)
    print(n, fabric.vault.key_info().key_id, secret, flush=True)
    if last:
        break
    time.sleep(0.005)
"""


def test_a_process_rotating_a_webhook_secret_racing_rotate_key_processes_loses_nothing(
    home: Path, profile: str, process: Callable[[], Fabric], receiver: LoopbackServer
) -> None:
    """One process rotates a subscription's signing secret every few milliseconds while three
    ``vault rotate-key`` processes run one after another. The writer never fails and ends on the
    final key; every sealed secret (the subscription's and an inbound endpoint's) opens, and a
    delivery is signed with exactly the writer's last secret."""
    a = process()
    sub, _ = a.webhooks.create(a.tenant, receiver.url + "/hook", ["*"])
    gh = _github(home, profile, a)
    endpoint = a.webhooks.endpoint(gh, base_url=BASE)

    env = cli_env(home, **NO_KEYRING)
    env.pop("CUERVO_FABRIC_KEY")
    stop = home / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, profile, sub.id, str(stop)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert writer.stdout is not None
        first = writer.stdout.readline().split()  # it is writing before the first rotation starts
        assert first, writer.stderr.read() if writer.stderr else ""
        new_ids = []
        for _ in range(3):
            rotated = run(home, *_scope(profile), "--json", "vault", "rotate-key", key=None)
            assert rotated.returncode == 0, rotated.stdout + rotated.stderr
            new_ids.append(json.loads(rotated.stdout)["newKeyId"])
        stop.touch()
        out, err = writer.communicate(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert writer.returncode == 0, err
    lines = [first, *(line.split() for line in out.splitlines())]
    _, last_key, last_secret = lines[-1]
    assert first[1] not in new_ids
    assert last_key == new_ids[-1]  # its last rotation of the secret sealed with the final key

    fresh = process()
    assert fresh.vault.key_info().key_id == new_ids[-1]
    assert {r.encryption_key_id for r in fresh.event_store.iter_sealed()} == {new_ids[-1]}
    assert _every_sealed_secret_opens(fresh) == 2
    stored = fresh.webhooks.get(fresh.tenant, sub.id)
    assert fresh.webhooks.open_secrets(stored)[0] == [last_secret]
    assert fresh.webhooks.endpoint(gh, base_url=BASE)["secret"] == endpoint["secret"]
    req = _signed_test_delivery(home, profile, receiver, sub.id)
    assert len(req.headers["webhook-signature"].split()) == 1
    _verifies(last_secret, req)
