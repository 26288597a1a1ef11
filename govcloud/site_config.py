"""The sites as written in settings: ``SiteConfig`` (one site, filed under its name) and
their conversion to domain ``Site`` values. Used by ``govcloud.settings``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from govcloud.domain.sites import Site, SiteRole, default_sites


class SiteConfig(BaseModel):
    """One site as written in settings (its name is the key it is filed under)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cloud: str = Field(min_length=1, description="cloud name in clouds.yaml")
    region: str = Field(min_length=1, description="region name in that cloud")
    role: SiteRole
    city: str | None = Field(default=None, min_length=1, max_length=64,
                             description="for a city site: the city (its code in the catalogue) "
                                         "whose site it is")


def default_site_configs() -> dict[str, SiteConfig]:
    return {s.name: SiteConfig(cloud=s.cloud, region=s.region, role=s.role)
            for s in default_sites()}


def to_sites(configs: dict[str, SiteConfig]) -> list[Site]:
    return [Site(name, c.cloud, c.region, c.role, c.city) for name, c in configs.items()]
