from __future__ import annotations

import json
from pathlib import Path

import pytest

from govcloud.config_files import config_file
from govcloud.domain.sites import SiteRole
from govcloud.errors import InvalidInput, NotFound
from govcloud.settings import load_settings


def write_config(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / "config" / "govcloud" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_simulated_three_centres_and_sqlite(tmp_path: Path) -> None:
    settings = load_settings()
    assert [(s.name, s.cloud, s.region, s.role) for s in settings.site_list()] == [
        ("PROD", "govcloud-sim", "PROD", SiteRole.PRODUCTION),
        ("DR-LOCAL", "govcloud-sim", "DR-LOCAL", SiteRole.SAME_CITY_DR),
        ("DR-REMOTE", "govcloud-sim", "DR-REMOTE", SiteRole.REMOTE_DR),
    ]
    assert settings.database_url == f"sqlite:///{tmp_path}/data/govcloud/govcloud.db"
    assert settings.clouds_yaml is None
    assert config_file() is None


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCLOUD_DATABASE_URL", "postgresql://govcloud@db/govcloud")
    monkeypatch.setenv("GOVCLOUD_CLOUDS_YAML", "/etc/openstack/clouds.yaml")
    monkeypatch.setenv("GOVCLOUD_SITES", json.dumps(
        {"PROD": {"cloud": "gd", "region": "RegionOne", "role": "production"}}))
    settings = load_settings()
    assert settings.database_url == "postgresql://govcloud@db/govcloud"
    assert settings.clouds_yaml == Path("/etc/openstack/clouds.yaml")
    assert [s.region for s in settings.site_list()] == ["RegionOne"]


YAML_CONFIG = """
database_url: postgresql://govcloud@db.internal/govcloud
sites:
  PROD: {cloud: gd-prod, region: gz-1, role: production}
  DR-LOCAL: {cloud: gd-prod, region: gz-2, role: same-city-dr}
  SZ: {cloud: sz-city, region: RegionOne, role: city}
"""

TOML_CONFIG = """
database_url = "postgresql://govcloud@db.internal/govcloud"
[sites.PROD]
cloud = "gd-prod"
region = "gz-1"
role = "production"
[sites.DR-LOCAL]
cloud = "gd-prod"
region = "gz-2"
role = "same-city-dr"
[sites.SZ]
cloud = "sz-city"
region = "RegionOne"
role = "city"
"""


@pytest.mark.parametrize(("name", "text"), [("config.yaml", YAML_CONFIG),
                                            ("config.toml", TOML_CONFIG)])
def test_config_file_in_xdg_config_dir(tmp_path: Path, name: str, text: str) -> None:
    path = write_config(tmp_path, text, name)
    settings = load_settings()
    assert config_file() == path
    assert settings.database_url == "postgresql://govcloud@db.internal/govcloud"
    assert [(s.name, s.role) for s in settings.site_list()] == [
        ("PROD", SiteRole.PRODUCTION), ("DR-LOCAL", SiteRole.SAME_CITY_DR),
        ("SZ", SiteRole.CITY)]
    assert settings.get_site("SZ").cloud == "sz-city"


def test_govcloud_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere.yaml"
    other.write_text("database_url: sqlite:////srv/govcloud.db\n", encoding="utf-8")
    write_config(tmp_path, "database_url: sqlite:////ignored.db\n")
    monkeypatch.setenv("GOVCLOUD_CONFIG", str(other))
    assert load_settings().database_url == "sqlite:////srv/govcloud.db"


def test_environment_beats_the_file_and_replaces_sites_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, YAML_CONFIG)
    monkeypatch.setenv("GOVCLOUD_DATABASE_URL", "sqlite:////tmp/env.db")
    monkeypatch.setenv("GOVCLOUD_SITES", json.dumps(
        {"X": {"cloud": "c", "region": "r", "role": "production"}}))
    settings = load_settings()
    assert settings.database_url == "sqlite:////tmp/env.db"
    assert [s.name for s in settings.site_list()] == ["X"]


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    write_config(tmp_path, "")
    assert len(load_settings().site_list()) == 3


def test_unknown_site_is_not_found() -> None:
    with pytest.raises(NotFound) as info:
        load_settings().get_site("NOPE")
    assert "PROD" in (info.value.hint or "")


@pytest.mark.parametrize(("text", "message"), [
    ("sites: [unclosed\n", "cannot parse config file"),
    ("- just\n- a list\n", "must hold a mapping"),
    ("sites:\n  PROD: {cloud: c, region: r, role: prod}\n", "sites.PROD.role"),
    ("sites:\n  PROD: {cloud: c, role: production}\n", "sites.PROD.region"),
    ("databse_url: sqlite:///x\n", "databse_url"),
    ("sites:\n  A: {cloud: c, region: r1, role: production}\n"
     "  B: {cloud: c, region: r2, role: production}\n", "more than one production"),
])
def test_bad_file_is_a_clear_error_naming_the_file(tmp_path: Path, text: str,
                                                   message: str) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(InvalidInput) as info:
        load_settings()
    assert message in info.value.message
    assert str(path) in f"{info.value.message} {info.value.hint}"


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCLOUD_SITES", json.dumps(
        {"PROD": {"cloud": "c", "region": "r", "role": "primary"}}))
    with pytest.raises(InvalidInput) as info:
        load_settings()
    assert "GOVCLOUD_SITES" in (info.value.hint or "")


def test_malformed_json_in_environment_names_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCLOUD_SITES", "{not json")
    with pytest.raises(InvalidInput) as info:
        load_settings()
    assert "GOVCLOUD_SITES" in (info.value.hint or "")


def test_missing_explicit_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCLOUD_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(InvalidInput, match="does not exist") as info:
        load_settings()
    assert "GOVCLOUD_CONFIG" in (info.value.hint or "")


def test_yaml_and_toml_side_by_side_is_ambiguous(tmp_path: Path) -> None:
    write_config(tmp_path, "", "config.yaml")
    write_config(tmp_path, "", "config.toml")
    with pytest.raises(InvalidInput, match="both"):
        load_settings()
