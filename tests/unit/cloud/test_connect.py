"""Connecting to a site from clouds.yaml, without a network: a missing file or an unknown
cloud is the operator's to fix and says so, the right cloud and region are chosen, and the
connection pool is wide enough for the worker pools that share it."""

from __future__ import annotations

from pathlib import Path

import pytest

from govcloud.cloud.connect import POOL_SIZE, connect
from govcloud.cloud.http_session import EnvOnceSession
from govcloud.domain.sites import Site, SiteRole
from govcloud.errors import InvalidInput

CLOUDS = """\
clouds:
  govcloud:
    auth:
      auth_url: http://127.0.0.1:9/identity
      username: admin
      password: secret
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    regions: [RegionOne, RegionTwo]
"""


@pytest.fixture
def clouds(tmp_path: Path) -> Path:
    path = tmp_path / "clouds.yaml"
    path.write_text(CLOUDS)
    return path


def site(cloud: str = "govcloud", region: str = "RegionTwo") -> Site:
    return Site(name="DR-LOCAL", cloud=cloud, region=region, role=SiteRole.SAME_CITY_DR)


def test_a_missing_clouds_yaml_is_refused_with_the_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="clouds.yaml not found") as caught:
        connect(site(), clouds_yaml=tmp_path / "nothing.yaml")
    assert "GOVCLOUD_CLOUDS_YAML" in (caught.value.hint or "")


def test_an_unknown_cloud_names_the_site_and_is_the_operators_to_fix(clouds: Path) -> None:
    with pytest.raises(InvalidInput, match="site DR-LOCAL .cloud elsewhere, region") as caught:
        connect(site(cloud="elsewhere"), clouds_yaml=clouds)
    assert "clouds.yaml" in (caught.value.hint or "")


def test_the_sites_cloud_and_region_are_chosen_lazily(clouds: Path) -> None:
    conn = connect(site(), clouds_yaml=clouds)  # nothing listens on port 9: no request yet
    assert conn.config.name == "govcloud"
    assert conn.config.get_region_name() == "RegionTwo"


def test_the_connection_pool_is_wide_enough_for_the_workers(clouds: Path) -> None:
    conn = connect(site(), clouds_yaml=clouds)
    for prefix in ("https://", "http://"):
        adapter = conn.session.session.get_adapter(prefix + "keystone.example")
        assert adapter._pool_maxsize == POOL_SIZE >= 16
    # the environment's proxies, CA bundle and netrc are read once per host (test_http_session)
    assert isinstance(conn.session.session, EnvOnceSession)
