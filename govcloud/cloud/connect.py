"""Connections to a site's OpenStack region, from clouds.yaml."""

from __future__ import annotations

import os
from pathlib import Path

import openstack.config
import requests.adapters
from openstack.connection import Connection

from govcloud.cloud.errors import sdk_errors
from govcloud.cloud.http_session import env_once
from govcloud.domain.sites import Site
from govcloud.errors import InvalidInput

POOL_SIZE = 32  # > every worker pool that shares one connection (sync: 8, apply: 8)


def connect(site: Site, *, clouds_yaml: str | os.PathLike[str] | None = None) -> Connection:
    """An openstacksdk connection to ``site``'s cloud and region.

    ``clouds_yaml`` names the file to read; without it openstacksdk's usual search applies
    (``OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``, ``~/.config/openstack/clouds.yaml``, ...).
    Authentication happens lazily, on the first request.
    """
    files: list[str] | None = None
    if clouds_yaml is not None:
        path = Path(clouds_yaml)
        if not path.is_file():
            raise InvalidInput(f"clouds.yaml not found at {path}",
                               hint="set the clouds_yaml setting (GOVCLOUD_CLOUDS_YAML) to an "
                                    "existing file")
        files = [str(path)]
    with sdk_errors(f"site {site.name} (cloud {site.cloud}, region {site.region})"):
        config = openstack.config.OpenStackConfig(config_files=files, load_envvars=False)
        region = config.get_one(cloud=site.cloud, region_name=site.region)
        conn = Connection(config=region)
    _widen_pool(conn)
    # the environment's proxies, CA bundle and netrc read once per host, not per request
    conn.session.session = env_once(conn.session.session)
    return conn


def _widen_pool(conn: Connection, size: int = POOL_SIZE) -> None:
    """Keep up to ``size`` connections per host: govcloud fans reads and applies out over
    threads sharing one connection, and requests' default of 10 made urllib3 drop (and log)
    the extra ones instead of reusing them."""
    adapter = requests.adapters.HTTPAdapter(pool_connections=size, pool_maxsize=size)
    for prefix in ("https://", "http://"):
        conn.session.session.mount(prefix, adapter)
