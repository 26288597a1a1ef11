"""Where govcloud's configuration lives and how its file is read: the XDG directories, the
config file in force (``$GOVCLOUD_CONFIG``, else ``config.yaml`` or ``config.toml`` under
``$XDG_CONFIG_HOME/govcloud``) and its settings source (``govcloud.settings``)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from govcloud.errors import InvalidInput
from govcloud.yamlfile import safe_load

CONFIG_ENV = "GOVCLOUD_CONFIG"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / "govcloud"


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / "govcloud"


def state_dir() -> Path:
    return _xdg("XDG_STATE_HOME", ".local/state") / "govcloud"


def config_file() -> Path | None:
    """The config file in force, or None when there is none."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InvalidInput(
                f"config file {path} does not exist",
                hint=f"create it, or unset {CONFIG_ENV} to use {config_dir()}/config.yaml",
            )
        return path
    found = [p for p in (config_dir() / "config.yaml", config_dir() / "config.toml")
             if p.is_file()]
    if len(found) > 1:
        raise InvalidInput(f"both {found[0]} and {found[1]} exist",
                           hint="keep one config file; govcloud will not guess which wins")
    return found[0] if found else None


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML or TOML config file into a mapping (empty file → empty mapping)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read config file {path}: {exc.strerror}",
                           hint=f"check the path and its permissions (or {CONFIG_ENV})") from exc
    try:
        # YAML: a key given twice is an error, not "the last one wins"
        data = tomllib.loads(text) if path.suffix == ".toml" else safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        detail = " ".join(str(exc).split())
        raise InvalidInput(f"cannot parse config file {path}: {detail}",
                           hint=f"fix the syntax in {path}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput(f"config file {path} must hold a mapping, not {type(data).__name__}",
                           hint="see docs/configuration.md for the layout")
    return data


class ConfigFileSource(PydanticBaseSettingsSource):
    """Settings from the config file; the path is resolved when the settings are built.

    A setting that the environment also gives is left out, so that the environment replaces
    it as a whole (``GOVCLOUD_SITES`` replaces every site, rather than merging with the file).
    """

    def __init__(self, settings_cls: type[BaseSettings],
                 *, overridden_by: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        path = config_file()
        self.data = read_config_file(path) if path else {}
        self.overridden_by = overridden_by

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        from_env = self.overridden_by()
        return {k: v for k, v in self.data.items() if k not in from_env}
