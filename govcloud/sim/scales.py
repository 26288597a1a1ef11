"""The simulator's scales: which clouds it serves, their regions (sites) and their sizes.

A scale is a tuple of :class:`SiteShape`. Each shape is one region of one cloud; ``cloud``
names the cloud (``""`` is the province's cloud, served at the root of the simulator's URL;
any other name is a cloud of its own, with its own Keystone, served under
``/clouds/{name}/``). ``city`` is set for a city site: the prefecture city (a code of the
reference data) whose tenants it hosts.

``cities``: the province's three datacentres as at ``province`` scale, Guangzhou and Shenzhen
as city clouds of their own (one region each), and the other 19 prefecture cities as regions
of one shared city cloud (``cities``) — 24 sites, 60,000 servers. ``cities-small``: the same
layout in miniature (3 + 2 + 2 sites), for tests.
"""

from __future__ import annotations

from dataclasses import dataclass

PROVINCE_CLOUD = ""  # the province's own cloud, at the root of the simulator's URL
SHARED_CITY_CLOUD = "cities"  # the cloud whose regions are the smaller cities' sites
OWN_CLOUD_CITIES = ("guangzhou", "shenzhen")  # cities running a full cloud of their own


@dataclass(frozen=True)
class SiteShape:
    name: str
    role: str
    hosts: int
    cores: int  # physical cores per host = VCPU inventory total
    ram_gb: int
    disk_gb: int
    cpu_ratio: float
    ram_ratio: float
    disk_ratio: float
    reserved_ram_mb: int
    reserved_disk_gb: int
    servers: int  # how many servers to seed here
    down: int  # compute services down
    disabled: int  # compute services disabled by an operator
    cidr: str
    cloud: str = PROVINCE_CLOUD
    city: str = ""  # for a city site: the city whose tenants it hosts


_PROVINCE = (
    SiteShape("PROD", "production", 300, 96, 1024, 8000, 4.0, 1.0, 1.0, 16384, 200,
              17000, 3, 2, "10.16.0.0/16"),
    SiteShape("DR-LOCAL", "same-city-dr", 260, 72, 512, 6000, 4.0, 1.2, 1.0, 16384, 200,
              8500, 2, 1, "10.32.0.0/16"),
    SiteShape("DR-REMOTE", "remote-dr", 200, 64, 512, 6000, 8.0, 1.5, 1.0, 16384, 200,
              4500, 1, 1, "10.48.0.0/16"),
)
_SMALL = (
    SiteShape("PROD", "production", 6, 32, 256, 2000, 4.0, 1.0, 1.0, 8192, 50,
              40, 1, 0, "10.16.0.0/20"),
    SiteShape("DR-LOCAL", "same-city-dr", 4, 24, 192, 1500, 4.0, 1.2, 1.0, 8192, 50,
              20, 0, 1, "10.32.0.0/20"),
    SiteShape("DR-REMOTE", "remote-dr", 3, 16, 128, 1000, 8.0, 1.5, 1.0, 8192, 50,
              10, 0, 0, "10.48.0.0/20"),
)

# The smaller cities' servers at ``cities`` scale (14,000 in all), roughly by population.
_CITY_SERVERS: tuple[tuple[str, int], ...] = (
    ("dongguan", 1800), ("foshan", 1800), ("huizhou", 1000), ("zhuhai", 900),
    ("zhongshan", 900), ("jiangmen", 700), ("shantou", 700), ("zhanjiang", 700),
    ("maoming", 650), ("zhaoqing", 600), ("jieyang", 600), ("qingyuan", 550),
    ("meizhou", 550), ("shaoguan", 500), ("heyuan", 450), ("yangjiang", 450),
    ("shanwei", 400), ("chaozhou", 400), ("yunfu", 350),
)


def site_name(city: str) -> str:
    """A city site's name (and its region's): the city's code in capitals, e.g. GUANGZHOU."""
    return city.upper()


def _city_site(city: str, cloud: str, servers: int, index: int) -> SiteShape:
    # hosts of 64 cores and 512 GiB at 4:1 vCPU, 1:1 RAM: a seeded server averages about
    # 14 GiB, so 512 GiB holds ~30; one host per 25 servers leaves the site ~80% full
    hosts = max(2, servers // 25 + 1)
    return SiteShape(site_name(city), "city", hosts, 64, 512, 6000, 4.0, 1.0, 1.0, 16384,
                     200, servers, 1 if hosts > 20 else 0, 0, f"10.{64 + index}.0.0/16",
                     cloud=cloud, city=city)


def _cities_scale() -> tuple[SiteShape, ...]:
    own = tuple(_city_site(c, c, 8000, i) for i, c in enumerate(OWN_CLOUD_CITIES))
    shared = tuple(_city_site(c, SHARED_CITY_CLOUD, n, len(own) + i)
                   for i, (c, n) in enumerate(_CITY_SERVERS))
    return _PROVINCE + own + shared


def _small_city(city: str, cloud: str, servers: int, index: int) -> SiteShape:
    return SiteShape(site_name(city), "city", 2, 16, 128, 1000, 4.0, 1.0, 1.0, 8192, 50,
                     servers, 0, 0, f"10.{64 + index}.0.0/20", cloud=cloud, city=city)


SCALES: dict[str, tuple[SiteShape, ...]] = {
    "province": _PROVINCE,
    # a tenth of the province (every department, 3,000 servers): the soak's plane
    "tenth": (
        SiteShape("PROD", "production", 30, 96, 1024, 8000, 4.0, 1.0, 1.0, 16384, 200,
                  1700, 1, 1, "10.16.0.0/16"),
        SiteShape("DR-LOCAL", "same-city-dr", 26, 72, 512, 6000, 4.0, 1.2, 1.0, 16384, 200,
                  850, 1, 0, "10.32.0.0/16"),
        SiteShape("DR-REMOTE", "remote-dr", 20, 64, 512, 6000, 8.0, 1.5, 1.0, 16384, 200,
                  450, 0, 1, "10.48.0.0/16"),
    ),
    "small": _SMALL,
    # the province and its cities: 24 sites in 4 clouds, 60,000 servers
    "cities": _cities_scale(),
    # the same layout in miniature, for tests: 7 sites in 4 clouds
    "cities-small": _SMALL + (
        _small_city("guangzhou", "guangzhou", 8, 0),
        _small_city("shenzhen", "shenzhen", 8, 1),
        _small_city("shantou", SHARED_CITY_CLOUD, 4, 2),
        _small_city("zhuhai", SHARED_CITY_CLOUD, 4, 3),
    ),
}

# the tenants the small scales seed (every department and city at the others)
SMALL_TENANTS = frozenset({"gd-psd", "gd-tax", "gd-hrss", "gd-edu", "gd-agri", "gd-data",
                           "guangzhou", "shenzhen", "shantou"})
SCALE_TENANTS: dict[str, frozenset[str]] = {
    "small": SMALL_TENANTS,
    "cities-small": SMALL_TENANTS | {"zhuhai"},
}


def clouds_of(scale: str) -> dict[str, tuple[SiteShape, ...]]:
    """The scale's shapes by cloud, the province's cloud (``""``) first."""
    out: dict[str, tuple[SiteShape, ...]] = {}
    for shape in SCALES[scale]:
        out[shape.cloud] = (*out.get(shape.cloud, ()), shape)
    return out
