"""Configuration: one TOML file with named profiles, plus environment overrides.

Where things live: ``CUERVO_FABRIC_HOME`` when set (config and data in one folder, as tests and CI
use), else platformdirs' user config and data folders. Environment overrides, strongest first:
``CUERVO_FABRIC_PROFILE`` (profile), ``CUERVO_FABRIC_TENANT`` (tenant), ``CUERVO_FABRIC_KEY``
(vault master key). Command-line flags beat the environment.

The file::

    default_profile = "local"

    [profiles.local]
    type = "local"              # "local" (this machine) or "remote" (a fabric server)
    tenant = "default"
    # database = "/path/to/fabric.db"           (SQLite file; default: <data dir>/fabric.db)
    # database_url = "postgresql://..."         (run the local CLI on PostgreSQL instead)

    [vault]
    strict = false              # true: refuse the plain key-file fallback

    [webhooks]
    allow_private_targets = false
    # public_url = "https://hooks.example.com"   (where providers reach `serve`)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cuervo_fabric.errors import InvalidInputError, NotFoundError

__all__ = [
    "SETTABLE_KEYS",
    "Paths",
    "Profile",
    "Settings",
    "load_settings",
    "paths",
    "set_value",
]

APP = "cuervo-fabric"
DEFAULT_TENANT = "default"
DEFAULT_PROFILE = "local"


@dataclass(frozen=True, slots=True)
class Paths:
    config_file: Path
    data_dir: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "fabric.db"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "master.key"


def paths() -> Paths:
    home = os.environ.get("CUERVO_FABRIC_HOME")
    if home:
        base = Path(home).expanduser()
        return Paths(config_file=base / "config.toml", data_dir=base)
    import platformdirs

    return Paths(
        config_file=Path(platformdirs.user_config_dir(APP)) / "config.toml",
        data_dir=Path(platformdirs.user_data_dir(APP)),
    )


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    type: str = "local"
    tenant: str = DEFAULT_TENANT
    database: str | None = None
    database_url: str | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "tenant": self.tenant}
        for key in ("database", "database_url", "url"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class Settings:
    """The effective configuration of one CLI call."""

    paths: Paths
    raw: dict[str, Any]
    profile: Profile
    tenant: str
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def vault_strict(self) -> bool:
        return bool(self.raw.get("vault", {}).get("strict", False))

    @property
    def allow_private_webhook_targets(self) -> bool:
        return bool(self.raw.get("webhooks", {}).get("allow_private_targets", False))

    def profiles(self) -> dict[str, Profile]:
        return _profiles(self.raw)

    def to_dict(self) -> dict[str, Any]:
        return {
            "configFile": str(self.paths.config_file),
            "dataDir": str(self.paths.data_dir),
            "profile": self.profile.name,
            "tenant": self.tenant,
            "sources": self.sources,
            "profiles": {n: p.to_dict() for n, p in self.profiles().items()},
            "vault": {"strict": self.vault_strict},
            "webhooks": {"allowPrivateTargets": self.allow_private_webhook_targets},
        }


def read_raw(config_file: Path) -> dict[str, Any]:
    if not config_file.exists():
        return {}
    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(
            f"the config file {config_file} is not valid TOML: {exc}",
            details={"file": str(config_file)},
        ) from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot read the config file {config_file}: {exc}") from exc
    _validate(data, config_file)
    return data


_PROFILE_KEYS = {"type", "tenant", "database", "database_url", "url"}


def _validate(data: dict[str, Any], where: Path) -> None:
    known_top = {"default_profile", "profiles", "vault", "webhooks"}
    for key in data:
        if key not in known_top:
            raise InvalidInputError(
                f"{where}: unknown setting {key!r} (known: {', '.join(sorted(known_top))})",
                details={"field": key},
            )
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise InvalidInputError(f"{where}: 'profiles' must be a table", details={"field": "profiles"})
    for name, body in profiles.items():
        if not isinstance(body, dict):
            raise InvalidInputError(
                f"{where}: profile {name!r} must be a table", details={"field": f"profiles.{name}"}
            )
        for key, value in body.items():
            if key not in _PROFILE_KEYS:
                raise InvalidInputError(
                    f"{where}: unknown profile setting profiles.{name}.{key}",
                    details={"field": f"profiles.{name}.{key}"},
                )
            if not isinstance(value, str):
                raise InvalidInputError(
                    f"{where}: profiles.{name}.{key} must be a string",
                    details={"field": f"profiles.{name}.{key}"},
                )
        if body.get("type", "local") not in ("local", "remote"):
            raise InvalidInputError(
                f"{where}: profiles.{name}.type must be 'local' or 'remote'",
                details={"field": f"profiles.{name}.type"},
            )


def _profiles(raw: dict[str, Any]) -> dict[str, Profile]:
    out = {DEFAULT_PROFILE: Profile(name=DEFAULT_PROFILE)}
    for name, body in raw.get("profiles", {}).items():
        out[name] = Profile(name=name, **body)
    return out


def load_settings(*, profile: str | None = None, tenant: str | None = None) -> Settings:
    """Resolve the effective settings: flags > environment > config file > defaults."""
    p = paths()
    raw = read_raw(p.config_file)
    sources: dict[str, str] = {}
    if profile:
        sources["profile"] = "flag"
    elif os.environ.get("CUERVO_FABRIC_PROFILE"):
        profile = os.environ["CUERVO_FABRIC_PROFILE"]
        sources["profile"] = "env:CUERVO_FABRIC_PROFILE"
    elif raw.get("default_profile"):
        profile = str(raw["default_profile"])
        sources["profile"] = "config"
    else:
        profile = DEFAULT_PROFILE
        sources["profile"] = "default"
    profiles = _profiles(raw)
    if profile not in profiles:
        raise NotFoundError(
            f"no profile named {profile!r} (known: {', '.join(sorted(profiles))})",
            details={"field": "profile"},
        )
    prof = profiles[profile]
    if tenant:
        sources["tenant"] = "flag"
    elif os.environ.get("CUERVO_FABRIC_TENANT"):
        tenant = os.environ["CUERVO_FABRIC_TENANT"]
        sources["tenant"] = "env:CUERVO_FABRIC_TENANT"
    else:
        tenant = prof.tenant
        sources["tenant"] = f"profile:{prof.name}"
    check_tenant(tenant)
    sources["key"] = "env:CUERVO_FABRIC_KEY" if os.environ.get("CUERVO_FABRIC_KEY") else "vault"
    return Settings(paths=p, raw=raw, profile=prof, tenant=tenant, sources=sources)


def check_tenant(tenant: str) -> None:
    ok = 0 < len(tenant) <= 64 and all(c.isalnum() or c in "-_." for c in tenant)
    if not ok:
        raise InvalidInputError(
            f"invalid tenant {tenant!r}: use 1-64 letters, digits, '-', '_' or '.'",
            details={"field": "tenant"},
        )


#: Keys ``config set`` accepts, with their types. ``profiles.<name>.<key>`` is also accepted.
SETTABLE_KEYS: dict[str, type] = {
    "default_profile": str,
    "vault.strict": bool,
    "webhooks.allow_private_targets": bool,
    "webhooks.public_url": str,
}


def _parse_value(key: str, text: str, typ: type) -> Any:
    if typ is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise InvalidInputError(f"{key} takes true or false, not {text!r}", details={"field": key})
    return text


def set_value(key: str, text: str) -> dict[str, Any]:
    """Set one dotted key in the config file; validates before writing anything."""
    p = paths()
    raw = read_raw(p.config_file)
    parts = key.split(".")
    if key in SETTABLE_KEYS:
        value = _parse_value(key, text, SETTABLE_KEYS[key])
    elif len(parts) == 3 and parts[0] == "profiles" and parts[2] in _PROFILE_KEYS:
        value = text
        if not parts[1] or not all(c.isalnum() or c in "-_" for c in parts[1]):
            raise InvalidInputError(f"invalid profile name {parts[1]!r}", details={"field": key})
        if parts[2] == "type" and text not in ("local", "remote"):
            raise InvalidInputError(f"{key} must be 'local' or 'remote'", details={"field": key})
        if parts[2] == "tenant":
            check_tenant(text)
    else:
        known = ", ".join([*SETTABLE_KEYS, "profiles.<name>.{type,tenant,database,database_url,url}"])
        raise InvalidInputError(f"unknown setting {key!r} (known: {known})", details={"field": key})
    node: dict[str, Any] = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    if key == "default_profile" and value not in _profiles(raw):
        raise NotFoundError(f"no profile named {value!r}", details={"field": key})
    _validate(raw, p.config_file)
    import tomli_w

    p.config_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.config_file.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(raw), encoding="utf-8")
    tmp.replace(p.config_file)
    return raw
