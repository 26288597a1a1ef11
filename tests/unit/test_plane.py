"""The composition root: ``build_plane`` makes every shared part once, connects to no cloud
while building, and the API app stores that one plane."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from govcloud.api.app import make_app
from govcloud.services.plane import DEFAULT_CATALOGUE, build_plane
from govcloud.settings import load_settings
from govcloud.store.engine import make_engine


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = make_engine("sqlite://")
    try:
        yield engine
    finally:
        engine.dispose()


def test_the_plane_shares_one_of_each_part_and_connects_lazily(engine: Engine,
                                                              tmp_path: Path) -> None:
    calls: list[int] = []

    def clouds() -> Mapping[str, Any]:
        calls.append(1)
        return {"gz-prod": object()}

    plane = build_plane(engine=engine, settings=load_settings(), clouds=clouds,
                        catalogue_dir=tmp_path)
    assert calls == []  # nothing connects while the plane is built
    assert plane.catalogue_dir == tmp_path and plane.catalogue_cache.directory == tmp_path
    # one stored-snapshot cache for capacity, the metrics and the approvals' placement
    assert plane.provisioning.snapshot is plane.snapshot
    assert plane.metrics.builder.cache is plane.snapshot
    assert plane.provisioning.engine is plane.engine is plane.syncer.engine
    assert plane.prober.engine is plane.engine
    assert plane.clouds.connections() is plane.clouds.connections()
    assert calls == [1]  # made on first use, then reused
    assert plane.sync_worker is None and plane.provision_worker is None


def test_two_planes_share_nothing(engine: Engine) -> None:
    one = build_plane(engine=engine, settings=load_settings(), clouds={})
    two = build_plane(engine=engine, settings=load_settings(), clouds={})
    assert one.catalogue_dir == DEFAULT_CATALOGUE
    for part in ("snapshot", "syncer", "prober", "metrics", "provisioning", "apply_lock"):
        assert getattr(one, part) is not getattr(two, part), part


def test_the_app_stores_the_plane_it_is_given(engine: Engine) -> None:
    plane = build_plane(engine=engine, settings=load_settings(), clouds={})
    app = make_app(plane)
    assert app.state.plane is plane
    for part in ("settings", "provisioning"):  # no pass-through: the plane's parts via it
        assert not hasattr(app.state, part), part


def test_the_app_builds_a_plane_from_its_parts(engine: Engine, tmp_path: Path) -> None:
    settings = load_settings()
    app = make_app(engine=engine, settings=settings, clouds={}, catalogue_dir=tmp_path)
    assert app.state.plane.settings is settings
    assert app.state.plane.catalogue_dir == tmp_path
    with pytest.raises(TypeError):
        make_app()
