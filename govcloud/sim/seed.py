"""Deterministic seed data: the three sites of a province's government cloud.

``province``: about 60,000 physical cores (PROD largest, DR-REMOTE smallest), realistic host
shapes and allocation ratios per site, every department and city of Guangdong as a project
with quotas in each site, and about 30,000 servers with a realistic flavor mix, a few in
ERROR/SHUTOFF and a few compute services down. ``tenth``: a tenth of it (3,000 servers,
every department; the soak runs on it). ``small``: the same shape in miniature.

At the ``cities`` scales each city site hosts its city's tenants: the city's own entry and
the city's departments and branches of the reference data (``city_tenants``), each of those
with a fixed share of the site's servers (``CITY_TENANT_SHARE``), the city's entry the rest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from collections.abc import Collection
from importlib import resources
from typing import Any

import yaml

from govcloud.sim.model import (
    Assignment,
    CatalogService,
    ComputeService,
    Domain,
    Endpoint,
    Flavor,
    Hypervisor,
    Image,
    Inventory,
    KRegion,
    Network,
    Project,
    ResourceProvider,
    Role,
    Server,
    Subnet,
    User,
)
from govcloud.sim.scales import (
    PROVINCE_CLOUD,
    SCALE_TENANTS,
    SCALES,
    SiteShape,
    clouds_of,
)
from govcloud.sim.state import Cloud, IdFactory, RegionState

__all__ = ["SCALES", "SiteShape", "build_cloud", "build_clouds", "tenants"]

REGIONS = ("PROD", "DR-LOCAL", "DR-REMOTE")
ADMIN_PROJECT = "admin"
DEFAULT_DOMAIN = "default"


# name, vcpus, ram MiB, disk GiB, weight in the seeded mix
FLAVORS: tuple[tuple[str, int, int, int, float], ...] = (
    ("gc.c1m2", 1, 2048, 40, 0.10),
    ("gc.c2m4", 2, 4096, 50, 0.30),
    ("gc.c4m8", 4, 8192, 100, 0.28),
    ("gc.c8m16", 8, 16384, 100, 0.15),
    ("gc.c8m32", 8, 32768, 100, 0.05),
    ("gc.c16m32", 16, 32768, 200, 0.06),
    ("gc.c16m64", 16, 65536, 200, 0.03),
    ("gc.c32m64", 32, 65536, 200, 0.02),
    ("gc.c32m128", 32, 131072, 400, 0.01),
)

# devstack's default flavors, kept as many real clouds keep them (and openstacksdk's functional
# tests look for them); never used for seeded servers
DEVSTACK_FLAVORS: tuple[tuple[str, str, int, int, int], ...] = (
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
    ("5", "m1.xlarge", 8, 16384, 160),
    ("c1", "cirros256", 1, 256, 1),
)

IMAGES: tuple[tuple[str, str, int, str], ...] = (
    ("cirros-0.6.2-x86_64-disk", "qcow2", 21430272, "cirros"),
    ("ubuntu-22.04-server", "qcow2", 688128000, "ubuntu"),
    ("centos-7.9", "qcow2", 897581056, "centos"),
    ("kylin-server-v10-sp3", "qcow2", 1610612736, "kylin"),
    ("uos-server-20-1070", "qcow2", 1503238553, "uos"),
)
IMAGE_WEIGHTS = (0.0, 0.2, 0.35, 0.3, 0.15)

SYSTEMS = ("portal", "app", "db", "api", "gis", "bigdata", "office", "archive", "mq", "cache")

# DR levels (GB/T 20988) for seeding where copies live: ≥5 keeps standbys in DR-LOCAL,
# ≥3 a copy in DR-REMOTE. The department catalogue (tenants/) is the governing source.
HIGH_DR = {"gd-psd": 6, "gd-tax": 6, "gd-hrss": 5, "gd-sifund": 5, "gd-medsec": 5,
           "gd-finance": 5, "gd-data": 5, "gd-gov-office": 5, "gd-emergency": 5,
           "gd-health": 5, "gd-fire": 5, "guangzhou": 5, "shenzhen": 5}
# big tenants get more servers
WEIGHT = {"gd-psd": 12.0, "gd-tax": 9.0, "gd-hrss": 8.0, "gd-data": 7.0, "gd-health": 6.0,
          "gd-sifund": 5.0, "gd-medsec": 4.0, "gd-edu": 4.0, "gd-samr": 4.0,
          "guangzhou": 8.0, "shenzhen": 8.0, "dongguan": 4.0, "foshan": 4.0}
# A city department's or branch's share of its city site's servers (at least one each), about
# two thirds of the instances its catalogue entry (tenants/cities/) gives it at ``cities``
# scale; the city's own entry runs the rest, so the site's total stays the scale's.
CITY_TENANT_KINDS = ("city-department", "city-branch")
CITY_TENANT_SHARE = {"gz-psb": 0.025, "gz-hrss": 0.012, "gz-data": 0.016, "gz-tax": 0.016,
                     "sz-psb": 0.025, "sz-data": 0.016, "sz-samr": 0.008, "sz-tax": 0.016}


def load_reference() -> dict[str, Any]:
    text = resources.files("govcloud.sim").joinpath("data/guangdong.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def dr_level(code: str, kind: str) -> int:
    if code in HIGH_DR:
        return HIGH_DR[code]
    return 3 if kind in ("department", "vertical") else 4


def tenants(scale: str, *, cities: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Departments and cities as seeded tenants: code, zh, en, kind, city, dr level.

    ``cities`` narrows to the tenants of those cities — each city's own entry and its
    departments and branches (a city cloud's Keystone holds only its cities' tenants);
    without it, the province's departments and cities (the province's Keystone has no
    project for a city's department or branch)."""
    ref = load_reference()
    out = []
    for d in ref["departments"]:
        out.append({"code": d["code"], "zh": d["zh"], "en": d["en"], "kind": d["kind"],
                    "city": ""})
    for c in ref["cities"]:
        out.append({"code": c["code"], "zh": c["zh"], "en": c["en"], "kind": "city",
                    "city": c["code"]})
    if cities is not None:
        out = [t for t in out if t["kind"] == "city" and t["city"] in cities]
        out += [{"code": c["code"], "zh": c["zh"], "en": c["en"], "kind": c["kind"],
                 "city": c["city"], "dr_level": int(c["dr_level"])}
                for c in ref.get("city_tenants") or () if c["city"] in cities]
    keep = SCALE_TENANTS.get(scale)
    if keep is not None:  # a small scale: its tenants, and the departments of its cities
        out = [t for t in out if t["code"] in keep
               or (t["kind"] in CITY_TENANT_KINDS and t["city"] in keep)]
    for t in out:
        t.setdefault("dr_level", dr_level(t["code"], t["kind"]))
    return out


def build_cloud(*, scale: str = "small", seed: int = 42, base_url: str,
                admin_password: str = "govcloud-admin", build_delay: float = 1.0) -> Cloud:
    """The province's cloud of ``scale`` (at the root of ``base_url``)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    shapes = clouds_of(scale)[PROVINCE_CLOUD]
    return _build_one(scale, PROVINCE_CLOUD, shapes, seed=seed, base_url=base_url,
                      admin_password=admin_password, build_delay=build_delay)


def build_clouds(*, scale: str = "small", seed: int = 42, base_url: str,
                 admin_password: str = "govcloud-admin", build_delay: float = 1.0,
                 only: Collection[str] | None = None) -> dict[str, Cloud]:
    """Every cloud of ``scale`` by name: the province's (``""``, at ``base_url``) first, then
    each city cloud (at ``{base_url}/clouds/{name}``), each with its own Keystone. ``only``
    builds just the clouds it names (each is the same as when all are built)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    out: dict[str, Cloud] = {}
    for name, shapes in clouds_of(scale).items():
        if only is not None and name not in only:
            continue
        url = base_url if name == PROVINCE_CLOUD else f"{base_url}/clouds/{name}"
        out[name] = _build_one(scale, name, shapes, seed=seed, base_url=url,
                               admin_password=admin_password, build_delay=build_delay)
    return out


def _build_one(scale: str, name: str, shapes: tuple[SiteShape, ...], *, seed: int,
               base_url: str, admin_password: str, build_delay: float) -> Cloud:
    # the province's cloud keeps the seed as it is (its data stays what it was); each city
    # cloud draws its ids from a seed of its own
    salt = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) if name else 0
    ids = IdFactory(seed ^ salt)
    cloud = Cloud(ids=ids, base_url=base_url)
    cities = None if name == PROVINCE_CLOUD else frozenset(s.city for s in shapes)
    tenant_list = tenants(scale, cities=cities)
    _identity(cloud, tenant_list=tenant_list, admin_password=admin_password)
    _catalog(cloud, regions=[s.name for s in shapes])
    order = [s.name for s in SCALES[scale]]
    for shape in shapes:
        region = RegionState(name=shape.name, role=shape.role, ids=ids,
                             build_delay=build_delay)
        cloud.regions[shape.name] = region
        _compute(region, shape, index=order.index(shape.name))
        _images(region, cloud)
        _network(region, shape, cloud)
        _servers(region, shape, cloud, tenant_list, seed)
    return cloud


# --- identity ---------------------------------------------------------------------------------

def _identity(cloud: Cloud, *, tenant_list: list[dict[str, Any]],
              admin_password: str) -> None:
    ids = cloud.ids
    cloud.domains[DEFAULT_DOMAIN] = Domain(id=DEFAULT_DOMAIN, name="Default",
                                           description="The default domain")
    for name in ("admin", "member", "reader", "service"):
        role = Role(id=ids.hex(), name=name)
        cloud.roles[role.id] = role
    admin_role = cloud.role_by_name("admin")
    member_role = cloud.role_by_name("member")
    assert admin_role and member_role

    def project(name: str, description: str = "", **extra: Any) -> Project:
        p = Project(id=ids.hex(), name=name, domain_id=DEFAULT_DOMAIN, description=description,
                    extra=extra)
        cloud.projects[p.id] = p
        return p

    def user(name: str, password: str, default_project: Project | None) -> User:
        u = User(id=ids.hex(), name=name, domain_id=DEFAULT_DOMAIN, password=password,
                 default_project_id=default_project.id if default_project else None)
        cloud.users[u.id] = u
        return u

    admin_p = project(ADMIN_PROJECT, "Bootstrap project for the operator")
    admin = user("admin", admin_password, admin_p)
    cloud.assignments.add(Assignment(role_id=admin_role.id, user_id=admin.id,
                                     project_id=admin_p.id))
    cloud.assignments.add(Assignment(role_id=admin_role.id, user_id=admin.id, system="all"))
    cloud.assignments.add(Assignment(role_id=admin_role.id, user_id=admin.id,
                                     domain_id=DEFAULT_DOMAIN))
    project("service", "Service accounts")
    # accounts the openstacksdk functional tests expect (devstack names)
    for pname in ("demo", "alt_demo"):
        p = project(pname, "Functional-test tenant")
        u = user(pname, f"{pname}-secret", p)
        cloud.assignments.add(Assignment(role_id=member_role.id, user_id=u.id,
                                         project_id=p.id))
    for t in tenant_list:
        p = project(t["code"], f"{t['zh']} {t['en']}", department=t["code"],
                    name_zh=t["zh"], name_en=t["en"], kind=t["kind"])
        u = user(f"{t['code']}-ops", department_password(t["code"]), p)
        cloud.assignments.add(Assignment(role_id=member_role.id, user_id=u.id,
                                         project_id=p.id))


def department_password(code: str) -> str:
    return "pw-" + hashlib.sha256(code.encode()).hexdigest()[:12]


def _catalog(cloud: Cloud, *, regions: list[str]) -> None:
    ids = cloud.ids
    base = cloud.base_url
    services = (
        ("identity", "keystone", "{base}/identity"),
        ("compute", "nova", "{base}/{region}/compute/v2.1"),
        ("placement", "placement", "{base}/{region}/placement"),
        ("image", "glance", "{base}/{region}/image"),
        ("network", "neutron", "{base}/{region}/network"),
        ("volumev3", "cinderv3", "{base}/{region}/volume/v3/$(project_id)s"),
    )
    for region in regions:
        cloud.kregions[region] = KRegion(id=region, description=f"govcloud site {region}")
    for stype, name, template in services:
        svc = CatalogService(id=ids.hex(), type=stype, name=name)
        cloud.catalog_services[svc.id] = svc
        for region in regions:
            for interface in ("public", "internal"):
                ep = Endpoint(id=ids.hex(), service_id=svc.id, interface=interface,
                              region_id=region, url=template.format(base=base, region=region))
                cloud.endpoints[ep.id] = ep


# --- compute ----------------------------------------------------------------------------------

def _compute(region: RegionState, shape: SiteShape, *, index: int) -> None:
    ids = region.ids
    prefix = shape.name.lower().replace("-", "")
    for binary, host in (("nova-scheduler", f"{prefix}-ctl-01"),
                         ("nova-conductor", f"{prefix}-ctl-01")):
        svc = ComputeService(id=ids.uuid(), binary=binary, host=host, zone="internal")
        region.services[svc.id] = svc
    for name, vcpus, ram, disk, _w in FLAVORS:
        fl = Flavor(id=ids.uuid(), name=name, vcpus=vcpus, ram=ram, disk=disk,
                    description=f"{vcpus} vCPU / {ram // 1024} GiB")
        region.flavors[fl.id] = fl
    for fid, name, vcpus, ram, disk in DEVSTACK_FLAVORS:
        region.flavors[fid] = Flavor(id=fid, name=name, vcpus=vcpus, ram=ram, disk=disk)
    for i in range(shape.hosts):
        host = f"{prefix}-cmp-{i + 1:04d}"
        svc = ComputeService(id=ids.uuid(), binary="nova-compute", host=host, zone="nova")
        region.services[svc.id] = svc
        rp = ResourceProvider(uuid=ids.uuid(), name=host, generation=1)
        rp.root_provider_uuid = rp.uuid
        rp.inventories = {
            "VCPU": Inventory(total=shape.cores, reserved=0, max_unit=shape.cores,
                              allocation_ratio=shape.cpu_ratio),
            "MEMORY_MB": Inventory(total=shape.ram_gb * 1024, reserved=shape.reserved_ram_mb,
                                   max_unit=shape.ram_gb * 1024,
                                   allocation_ratio=shape.ram_ratio),
            "DISK_GB": Inventory(total=shape.disk_gb, reserved=shape.reserved_disk_gb,
                                 max_unit=shape.disk_gb, allocation_ratio=shape.disk_ratio),
        }
        rp.traits = {"COMPUTE_NODE", "HW_CPU_X86_AVX2", "COMPUTE_NET_ATTACH_INTERFACE"}
        region.providers[rp.uuid] = rp
        # the three datacentres keep their 172.16/32/48 blocks; city sites from 172.64 on
        octet = (16 + index * 16 if index < 3 else 64 + (index - 3) * 2) + i // 250
        hv = Hypervisor(id=rp.uuid, legacy_id=i + 1, hostname=host,
                        host_ip=f"172.{octet}.{i % 250 + 1}.{(i // 250) + 10}",
                        service=svc, provider=rp)
        region.hypervisors[hv.id] = hv
        region.hv_by_host[host] = hv


def _images(region: RegionState, cloud: Cloud) -> None:
    admin = cloud.project_by_name(ADMIN_PROJECT)
    created = dt.datetime(2024, 1, 15, 8, 0, tzinfo=dt.UTC)
    for name, fmt, size, distro in IMAGES:
        # the same image id in every region, as with a shared Glance
        iid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"govcloud/{name}"))
        region.images[iid] = Image(
            id=iid, name=name, disk_format=fmt, size=size, os_distro=distro,
            owner=admin.id if admin else None, min_disk=1 if distro == "cirros" else 20,
            checksum=hashlib.md5(name.encode()).hexdigest(),  # noqa: S324 - not security
            created_at=created, updated_at=created)


def _network(region: RegionState, shape: SiteShape, cloud: Cloud) -> None:
    admin = cloud.project_by_name(ADMIN_PROJECT)
    assert admin is not None
    ids = region.ids
    net = Network(id=ids.uuid(), name=f"{shape.name.lower()}-net", project_id=admin.id,
                  shared=True, description=f"Shared flat network of {shape.name}")
    gw = shape.cidr.split("/")[0].rsplit(".", 2)[0]
    sub = Subnet(id=ids.uuid(), name=f"{shape.name.lower()}-subnet", network_id=net.id,
                 project_id=admin.id, cidr=shape.cidr, gateway_ip=f"{gw}.0.1",
                 dns_nameservers=["10.0.0.53"])
    net.subnet_ids.append(sub.id)
    region.networks[net.id] = net
    region.subnets[sub.id] = sub


# --- servers ----------------------------------------------------------------------------------

def _pick(rng: Any, weights: tuple[float, ...]) -> int:
    x = rng.random() * sum(weights)
    for i, w in enumerate(weights):
        x -= w
        if x <= 0:
            return i
    return len(weights) - 1


def _servers(region: RegionState, shape: SiteShape, cloud: Cloud,
             tenant_list: list[dict[str, Any]], seed: int) -> None:
    import random

    rng = random.Random(f"{seed}/{shape.name}")
    ids = region.ids
    # who has servers here: PROD everyone; DR-LOCAL DR level ≥ 5 (standbys) plus a few;
    # DR-REMOTE DR level ≥ 3 (copies)
    # (by role); a city site: its city's tenants
    if shape.role == "production":
        present = tenant_list
    elif shape.role == "same-city-dr":
        present = [t for t in tenant_list if t["dr_level"] >= 5 or t["kind"] == "city"]
    elif shape.role == "city":
        present = [t for t in tenant_list if t["city"] == shape.city]
    else:
        present = [t for t in tenant_list if t["dr_level"] >= 3]
    if not present:
        _quotas(region, present, cloud)
        return
    weights = tuple(WEIGHT.get(t["code"], 1.0) for t in present)
    flavors = [f for f in region.flavors.values() if f.name.startswith("gc.")]
    fweights = tuple(f[4] for f in FLAVORS)
    images = list(region.images.values())
    net = next(iter(region.networks.values()))
    hosts = list(region.hypervisors.values())
    users = {u.default_project_id: u for u in cloud.users.values()}
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    span = (dt.datetime(2026, 11, 1, tzinfo=dt.UTC) - start).total_seconds()
    times = sorted(rng.random() * span for _ in range(shape.servers))
    # a city site with departments or branches: each runs its share, dealt out in a shuffled
    # order; everywhere else each server's tenant is drawn by weight
    shares = city_site_servers(shape.servers, present) if shape.role == "city" else {}
    dealt: list[dict[str, Any]] = []
    if len(shares) > 1:
        by_code = {t["code"]: t for t in present}
        dealt = [by_code[code] for code, count in shares.items() for _ in range(count)]
        random.Random(f"{seed}/{shape.name}/tenants").shuffle(dealt)
    counters: dict[str, int] = {}
    ok = 0
    for n, offset in enumerate(times):
        t = dealt[n] if dealt else present[_pick(rng, weights)]
        project = cloud.project_by_name(t["code"])
        assert project is not None
        flavor = flavors[_pick(rng, fweights)]
        image = images[_pick(rng, IMAGE_WEIGHTS)]
        system = SYSTEMS[_pick(rng, (5, 5, 3, 3, 1, 1, 2, 1, 1, 1))]
        key = f"{t['code']}-{system}"
        counters[key] = counters.get(key, 0) + 1
        created = (start + dt.timedelta(seconds=offset)).replace(microsecond=0)
        user = users.get(project.id)
        server = Server(
            id=ids.uuid(), name=f"{key}-{counters[key]:03d}", project_id=project.id,
            user_id=user.id if user else "", flavor=flavor, image_id=image.id,
            created_at=created, updated_at=created, status="ACTIVE", vm_state="active",
            task_state=None, power_state=1, launched_at=created,
            metadata={"department": t["code"], "system": system, "site": shape.name},
            tags=[f"dept:{t['code']}", f"system:{system}"], seq=region.next_seq(),
            instance_number=n + 1, hostname=f"{key}-{counters[key]:03d}")
        # first fit from a random host: O(1) on average, spreads like the real scheduler
        resources = region.flavor_resources(flavor)
        placed = None
        first = rng.randrange(len(hosts))
        for k in range(len(hosts)):
            hv = hosts[(first + k) % len(hosts)]
            if region.fits(hv.provider, resources):
                placed = hv
                break
        roll = rng.random()
        if placed is None or roll < 0.003:
            server.status, server.vm_state, server.power_state = "ERROR", "error", 0
            server.launched_at = None
            server.fault = {"code": 500, "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "message": "No valid host was found. There are not enough hosts "
                                       "available."}
        else:
            region.claim(server, placed)
            port = region.allocate_port(net, project_id=project.id, device_id=server.id,
                                        host=placed.hostname)
            server.port_ids.append(port.id)
            server.addresses = region.addresses_for([port])
            if roll < 0.025:
                server.status, server.vm_state, server.power_state = "SHUTOFF", "stopped", 4
            ok += 1
        region.count_usage(server)
        region.servers[server.id] = server
    # a few compute services down (heartbeat lost) and some disabled for maintenance
    computes = [s for s in region.services.values() if s.binary == "nova-compute"]
    for svc in rng.sample(computes, shape.down):
        svc.state = "down"
        svc.updated_at = dt.datetime(2026, 11, 27, 23, 40, tzinfo=dt.UTC)
    for svc in rng.sample([s for s in computes if s.state == "up"], shape.disabled):
        svc.status = "disabled"
        svc.disabled_reason = "maintenance: firmware upgrade"
    _quotas(region, present, cloud)


def city_site_servers(total: int, present: list[dict[str, Any]]) -> dict[str, int]:
    """How many of a city site's ``total`` servers each of its tenants runs: a department
    or branch its ``CITY_TENANT_SHARE`` (at least one), the city's own entry the rest."""
    own = [t["code"] for t in present if t["kind"] not in CITY_TENANT_KINDS]
    out = {t["code"]: max(1, round(total * CITY_TENANT_SHARE.get(t["code"], 0.0)))
           for t in present if t["kind"] in CITY_TENANT_KINDS}
    if out and (len(own) != 1 or sum(out.values()) >= total):
        raise ValueError(f"a city site of {total} servers and {len(own)} city entries cannot "
                         f"hold {len(out)} departments and branches beside its city")
    return {**{code: total - sum(out.values()) for code in own}, **out}


def _quotas(region: RegionState, present: list[dict[str, Any]], cloud: Cloud) -> None:
    """Quotas with headroom; a few departments deliberately near their limits. In a city
    site the other cities' tenants (a shared city cloud's projects exist in every region)
    get zero quotas, as the catalogue wants where a tenant has no allocation."""
    here = {t["code"] for t in present}
    for i, t in enumerate(tenants_all(cloud)):
        project = cloud.project_by_name(t)
        if project is None:
            continue
        if region.role == "city" and t not in here:
            region.compute_quotas[project.id] = {"instances": 0, "cores": 0, "ram": 0,
                                                 "server_groups": 0,
                                                 "server_group_members": 0}
            region.volume_quotas[project.id] = {"volumes": 0, "gigabytes": 0}
            region.network_quotas[project.id] = {"port": 0}
            continue
        used = region.usage[project.id]
        tight = i % 17 == 3  # a handful of tenants close to quota
        factor = 1.05 if tight else 1.4

        def q(v: int, floor: int, step: int, factor: float = factor) -> int:
            return max(floor, int(math.ceil(v * factor / step) * step))

        region.compute_quotas[project.id] = {
            "instances": q(used.instances, 20, 10),
            "cores": q(used.cores, 80, 20),
            "ram": q(used.ram, 163840, 10240),
        }
        region.volume_quotas[project.id] = {"volumes": 200, "gigabytes": 20000}
        region.network_quotas[project.id] = {"port": max(500, used.instances * 2)}


def tenants_all(cloud: Cloud) -> list[str]:
    return [p.name for p in cloud.projects.values() if "department" in p.extra]
