"""The demo's sites and catalogue when the simulator serves city clouds (``--scale cities``,
``cities-small``; docs/city-clouds.md).

The simulator's ready file lists its sites as govcloud configures them (name, clouds.yaml
cloud, region, role and, for a city site, its city) with the servers seeded there; the demo
configures exactly those sites, and applies a copy of the shipped catalogue in which each
city's own entry gets quotas in its city's site, with the city's departments and branches of
``tenants/cities/`` whose city has a site (their files give their city site's quotas).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml

from govcloud.domain.sites import Site, SiteRole, check_sites, default_sites
from govcloud.site_config import SiteConfig, to_sites

SIM_CLOUD = "govcloud-sim"
SITE_KEYS = ("cloud", "region", "role", "city")
CITY_TENANTS = "cities"  # tenants/cities/: the city sites' departments and branches


def ready_sites(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The sites (settings form: name → {cloud, region, role[, city]}) a simulator's ready
    file lists; the three centres of the embedded default when it lists none."""
    listed = raw.get("sites")
    if not isinstance(listed, list) or not listed:
        return {s.name: {"cloud": s.cloud, "region": s.region, "role": s.role.value}
                for s in default_sites(SIM_CLOUD)}
    return {str(s["name"]): {k: s[k] for k in SITE_KEYS if s.get(k) is not None}
            for s in listed}


def sites_of(raw: Mapping[str, Any]) -> tuple[Site, ...]:
    """The ready file's sites as checked domain values, production first."""
    return check_sites(to_sites({name: SiteConfig(**site)
                                 for name, site in ready_sites(raw).items()}))


def site_servers(raw: Mapping[str, Any]) -> dict[str, int]:
    """How many servers the simulator seeded in each site (where its ready file says)."""
    return {str(s["name"]): int(s.get("servers") or 0) for s in raw.get("sites") or ()}


def city_quota(servers: int) -> dict[str, int]:
    """Quotas for a city's tenant in its city site, with headroom over what it runs."""
    instances = max(20, math.ceil(servers * 1.5 / 10) * 10)
    return {"cores": instances * 8, "ram_mb": instances * 16384, "instances": instances,
            "volumes": instances, "gigabytes": instances * 200, "ports": instances * 2,
            "server_groups": max(10, instances // 5),
            "server_group_members": max(10, instances // 5)}


def city_catalogue(source: Path, target: Path, *, sites: Collection[Site],
                   servers: Mapping[str, int], keep: Collection[str] | None = None) -> Path:
    """Copy the catalogue at ``source`` to ``target`` (only the tenants in ``keep`` when it is
    given), adding to each city's entry quotas in the site of its city, and the departments
    and branches of ``source/cities/`` whose city has a site (and is kept)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy(source / "schema.json", target / "schema.json")
    by_city = {s.city: s.name for s in sites if s.role is SiteRole.CITY and s.city}
    for path in sorted(source.glob("*.yaml")):
        if keep is not None and path.stem not in keep:
            continue
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or "code" not in doc:
            continue
        site = by_city.get(str(doc.get("city"))) if doc.get("kind") == "city" else None
        if site is None:
            shutil.copy(path, target / path.name)
            continue
        doc.setdefault("quotas", {})[site] = city_quota(servers.get(site, 0))
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)
        (target / path.name).write_text(text, encoding="utf-8")
    for path in sorted((source / CITY_TENANTS).glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        city = str(doc.get("city")) if isinstance(doc, dict) else ""
        if city in by_city and (keep is None or city in keep):
            shutil.copy(path, target / path.name)
    return target
