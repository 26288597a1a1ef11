"""Deterministic seed data: the three sites of a province's government cloud.

``province``: about 60,000 physical cores (PROD largest, DR-REMOTE smallest), realistic host
shapes and allocation ratios per site, every department and city of Guangdong as a project
with quotas in each site, and about 30,000 servers with a realistic flavor mix, a few in
ERROR/SHUTOFF and a few compute services down. ``tenth``: a tenth of it (3,000 servers,
every department; the soak runs on it). ``small``: the same shape in miniature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from dataclasses import dataclass
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
from govcloud.sim.state import Cloud, IdFactory, RegionState

REGIONS = ("PROD", "DR-LOCAL", "DR-REMOTE")
ADMIN_PROJECT = "admin"
DEFAULT_DOMAIN = "default"


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


SCALES: dict[str, tuple[SiteShape, ...]] = {
    "province": (
        SiteShape("PROD", "production", 300, 96, 1024, 8000, 4.0, 1.0, 1.0, 16384, 200,
                  17000, 3, 2, "10.16.0.0/16"),
        SiteShape("DR-LOCAL", "same-city-dr", 260, 72, 512, 6000, 4.0, 1.2, 1.0, 16384, 200,
                  8500, 2, 1, "10.32.0.0/16"),
        SiteShape("DR-REMOTE", "remote-dr", 200, 64, 512, 6000, 8.0, 1.5, 1.0, 16384, 200,
                  4500, 1, 1, "10.48.0.0/16"),
    ),
    # a tenth of the province (every department, 3,000 servers): the soak's plane
    "tenth": (
        SiteShape("PROD", "production", 30, 96, 1024, 8000, 4.0, 1.0, 1.0, 16384, 200,
                  1700, 1, 1, "10.16.0.0/16"),
        SiteShape("DR-LOCAL", "same-city-dr", 26, 72, 512, 6000, 4.0, 1.2, 1.0, 16384, 200,
                  850, 1, 0, "10.32.0.0/16"),
        SiteShape("DR-REMOTE", "remote-dr", 20, 64, 512, 6000, 8.0, 1.5, 1.0, 16384, 200,
                  450, 0, 1, "10.48.0.0/16"),
    ),
    "small": (
        SiteShape("PROD", "production", 6, 32, 256, 2000, 4.0, 1.0, 1.0, 8192, 50,
                  40, 1, 0, "10.16.0.0/20"),
        SiteShape("DR-LOCAL", "same-city-dr", 4, 24, 192, 1500, 4.0, 1.2, 1.0, 8192, 50,
                  20, 0, 1, "10.32.0.0/20"),
        SiteShape("DR-REMOTE", "remote-dr", 3, 16, 128, 1000, 8.0, 1.5, 1.0, 8192, 50,
                  10, 0, 0, "10.48.0.0/20"),
    ),
}

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


def load_reference() -> dict[str, Any]:
    text = resources.files("govcloud.sim").joinpath("data/guangdong.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def dr_level(code: str, kind: str) -> int:
    if code in HIGH_DR:
        return HIGH_DR[code]
    return 3 if kind in ("department", "vertical") else 4


def tenants(scale: str) -> list[dict[str, Any]]:
    """Departments and cities as seeded tenants: code, zh, en, kind, dr level."""
    ref = load_reference()
    out = []
    for d in ref["departments"]:
        out.append({"code": d["code"], "zh": d["zh"], "en": d["en"], "kind": d["kind"]})
    for c in ref["cities"]:
        out.append({"code": c["code"], "zh": c["zh"], "en": c["en"], "kind": "city"})
    if scale == "small":
        keep = {"gd-psd", "gd-tax", "gd-hrss", "gd-edu", "gd-agri", "gd-data",
                "guangzhou", "shenzhen", "shantou"}
        out = [t for t in out if t["code"] in keep]
    for t in out:
        t["dr_level"] = dr_level(t["code"], t["kind"])
    return out


def build_cloud(*, scale: str = "small", seed: int = 42, base_url: str,
                admin_password: str = "govcloud-admin", build_delay: float = 1.0) -> Cloud:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    ids = IdFactory(seed)
    cloud = Cloud(ids=ids, base_url=base_url)
    _identity(cloud, scale=scale, admin_password=admin_password)
    _catalog(cloud)
    tenant_list = tenants(scale)
    for shape in SCALES[scale]:
        region = RegionState(name=shape.name, role=shape.role, ids=ids,
                             build_delay=build_delay)
        cloud.regions[shape.name] = region
        _compute(region, shape)
        _images(region, cloud)
        _network(region, shape, cloud)
        _servers(region, shape, cloud, tenant_list, seed)
    return cloud


# --- identity ---------------------------------------------------------------------------------

def _identity(cloud: Cloud, *, scale: str, admin_password: str) -> None:
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
    for t in tenants(scale):
        p = project(t["code"], f"{t['zh']} {t['en']}", department=t["code"],
                    name_zh=t["zh"], name_en=t["en"], kind=t["kind"])
        u = user(f"{t['code']}-ops", department_password(t["code"]), p)
        cloud.assignments.add(Assignment(role_id=member_role.id, user_id=u.id,
                                         project_id=p.id))


def department_password(code: str) -> str:
    return "pw-" + hashlib.sha256(code.encode()).hexdigest()[:12]


def _catalog(cloud: Cloud) -> None:
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
    for region in REGIONS:
        cloud.kregions[region] = KRegion(id=region, description=f"govcloud site {region}")
    for stype, name, template in services:
        svc = CatalogService(id=ids.hex(), type=stype, name=name)
        cloud.catalog_services[svc.id] = svc
        for region in REGIONS:
            for interface in ("public", "internal"):
                ep = Endpoint(id=ids.hex(), service_id=svc.id, interface=interface,
                              region_id=region, url=template.format(base=base, region=region))
                cloud.endpoints[ep.id] = ep


# --- compute ----------------------------------------------------------------------------------

def _compute(region: RegionState, shape: SiteShape) -> None:
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
        octet = 16 + REGIONS.index(shape.name) * 16 + i // 250
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
    if shape.name == "PROD":
        present = tenant_list
    elif shape.name == "DR-LOCAL":
        present = [t for t in tenant_list if t["dr_level"] >= 5 or t["kind"] == "city"]
    else:
        present = [t for t in tenant_list if t["dr_level"] >= 3]
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
    counters: dict[str, int] = {}
    ok = 0
    for n, offset in enumerate(times):
        t = present[_pick(rng, weights)]
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


def _quotas(region: RegionState, present: list[dict[str, Any]], cloud: Cloud) -> None:
    """Quotas with headroom; a few departments deliberately near their limits."""
    for i, t in enumerate(tenants_all(cloud)):
        project = cloud.project_by_name(t)
        if project is None:
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
