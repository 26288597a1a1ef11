"""Fixtures for simulator tests: a fresh small-scale simulator per test, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openstack
import openstack.config
import pytest

from govcloud.sim.server import RunningSimulator, start


@dataclass
class SimHandle:
    running: RunningSimulator
    clouds_yaml: Path

    @property
    def cloud(self) -> Any:
        return self.running.sim.cloud

    @property
    def base_url(self) -> str:
        return self.running.base_url

    @property
    def sim(self) -> Any:
        return self.running.sim

    def connect(self, cloud: str = "govcloud-sim", region: str = "PROD",
                **kwargs: Any) -> openstack.connection.Connection:
        """An unmodified openstacksdk connection built from the written clouds.yaml."""
        config = openstack.config.OpenStackConfig(config_files=[str(self.clouds_yaml)])
        region_config = config.get_one(cloud=cloud, region_name=region, **kwargs)
        return openstack.connection.Connection(config=region_config)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimHandle]:
    clouds_yaml = tmp_path / "clouds.yaml"
    running = start(scale="small", seed=42, clouds_yaml=clouds_yaml, functional=True,
                    build_delay=0.2)
    try:
        yield SimHandle(running=running, clouds_yaml=clouds_yaml)
    finally:
        running.stop()
