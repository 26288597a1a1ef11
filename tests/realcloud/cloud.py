"""A real three-region OpenStack on loopback, for govcloud's real-cloud suite.

    python -m tests.realcloud.cloud up [--json]       # install what is missing, configure, start
    python -m tests.realcloud.cloud status [--json]   # which processes run
    python -m tests.realcloud.cloud down [--purge]    # stop every process by PID (--purge: and
                                                      # drop the databases, vhosts and state)

Keystone and Glance are shared; each region (``PROD``, ``DR-LOCAL``, ``DR-REMOTE``, shaped by
``topology.yaml``) has its own Placement, Neutron API (ML2, flat network, a mechanism driver that
binds every port, no agents), Cinder API (quotas only), Nova API, conductor, scheduler and fake
computes whose host sizes and allocation ratios come from the topology. The services are
Debian's packages (``install.sh``), run by hand: web APIs under uwsgi on 127.0.0.1, daemons
directly. Databases live in the machine's MariaDB (127.0.0.1:3306, root) and messages in its
RabbitMQ (one vhost per region); configs, PID files, logs and the ``clouds.yaml`` stay under
``$GOVCLOUD_REALCLOUD_DIR`` (default ``/tmp/govcloud-realcloud``).

``up`` is idempotent: every setup step leaves a marker and is not repeated, running processes
are reused, and only the missing ones are started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STATE = Path(os.environ.get("GOVCLOUD_REALCLOUD_DIR") or os.environ.get("GOVCLOUD_REALCLOUD")
             or "/tmp/govcloud-realcloud")
GUESTS = STATE / "guests"  # the pool of guests new servers take (the fake driver's spawn)
TOPOLOGY = Path(os.environ.get("GOVCLOUD_REALCLOUD_TOPOLOGY", HERE / "topology.yaml"))
PORT_BASE = int(os.environ.get("GOVCLOUD_REALCLOUD_PORT_BASE", "19500"))
PY = "/usr/bin/python3"  # the Debian services' interpreter, whatever python3 is on PATH
DB_PREFIX = "gcrc"
DB_URL = "mysql+pymysql://root@127.0.0.1:3306/{db}?charset=utf8"
RABBIT = "rabbit://guest:guest@127.0.0.1:5672/{vhost}"
CLOUD = "govcloud-real"
MEMBER_CLOUD = "govcloud-real-member"
ADMIN_PASSWORD = "gcrc-admin-secret"
SERVICE_USER, SERVICE_PASSWORD = "gcrc-service", "gcrc-service-secret"
MEMBER_USER, MEMBER_PASSWORD, MEMBER_PROJECT = "gcrc-member", "gcrc-member-secret", "gcrc-member"
IMAGE = "gcrc-image"
NETWORK = "flat-net"
FLAVORS = (("m1.small", "101", 1, 2048, 20), ("m1.medium", "102", 2, 4096, 40),
           ("m1.large", "103", 4, 8192, 80), ("m1.xlarge", "104", 8, 16384, 160))
KEYSTONE_PORT = PORT_BASE
GLANCE_PORT = PORT_BASE + 1


# --- the shape ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Compute:
    host: str
    vcpus: int
    memory_mb: int
    local_gb: int


@dataclass(frozen=True)
class Region:
    name: str
    index: int
    role: str
    settings: Mapping[str, float | int]
    computes: tuple[Compute, ...]

    @property
    def slug(self) -> str:
        return self.name.lower().replace("-", "_")

    def port(self, service: str) -> int:
        return PORT_BASE + 10 * (self.index + 1) + \
            ("placement", "nova", "neutron", "cinder").index(service)

    def db(self, name: str) -> str:
        return f"{DB_PREFIX}_{self.slug}_{name}"

    @property
    def vhost(self) -> str:
        return f"{DB_PREFIX}-{self.slug}"

    @property
    def dir(self) -> Path:
        return STATE / self.slug


def load_topology(path: Path = TOPOLOGY) -> list[Region]:
    doc = yaml.safe_load(path.read_text())
    regions = []
    for index, (name, spec) in enumerate(doc["regions"].items()):
        computes = tuple(Compute(**c) for c in spec.pop("computes"))
        role = spec.pop("role")
        regions.append(Region(name=name, index=index, role=role, settings=dict(spec),
                              computes=computes))
    return regions


def url(port: int, path: str = "") -> str:
    return f"http://127.0.0.1:{port}{path}"


KEYSTONE_URL = url(KEYSTONE_PORT, "/v3")


# --- small helpers -----------------------------------------------------------------------------

def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(*argv: str, env: Mapping[str, str] | None = None, what: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    log = STATE / "logs" / "setup.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, check=False)
    with log.open("a") as f:
        f.write(f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}\n[exit {proc.returncode}]\n")
    if check and proc.returncode != 0:
        raise RuntimeError(f"{what or argv[0]} failed (exit {proc.returncode}); see {log}:\n"
                           f"{proc.stderr[-2000:]}")
    return proc


def step(name: str, fn: Callable[[], None]) -> None:
    """Run a setup step once: its marker under STATE/done says it is done."""
    marker = STATE / "done" / name
    if marker.exists():
        return
    t0 = time.monotonic()
    fn()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{time.time()}\n")
    say(f"{name}: {time.monotonic() - t0:.1f} s")


def ini(sections: Mapping[str, Mapping[str, Any]]) -> str:
    out = []
    for section, values in sections.items():
        out.append(f"[{section}]")
        out.extend(f"{k} = {v}" for k, v in values.items())
        out.append("")
    return "\n".join(out)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def mysql(sql: str) -> None:
    run("mysql", "-h127.0.0.1", "-uroot", "-e", sql, what="mysql")


def parallel(fns: Iterable[Callable[[], None]], workers: int = 2) -> None:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(fn) for fn in fns]:
            future.result()


def auth_section(region: str | None = None) -> dict[str, str]:
    section = {"auth_url": KEYSTONE_URL, "auth_type": "password",
               "project_domain_name": "Default", "user_domain_name": "Default",
               "project_name": "service", "username": SERVICE_USER,
               "password": SERVICE_PASSWORD}
    if region:
        section["region_name"] = region
    return section


def authtoken() -> dict[str, str]:
    return {"www_authenticate_uri": KEYSTONE_URL, **auth_section(),
            "service_token_roles_required": "true"}


# --- processes ---------------------------------------------------------------------------------

def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def pid_of(name: str) -> int | None:
    """The PID of our process ``name`` if it still runs (same PID and start time as recorded)."""
    path = STATE / "pids" / f"{name}.pid"
    try:
        pid_text, started = path.read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_text)
    return pid if _start_time(pid) == started else None


def spawn(name: str, argv: list[str], env: Mapping[str, str] | None = None) -> int:
    existing = pid_of(name)
    if existing:
        return existing
    log = STATE / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                env={**os.environ, **(env or {})}, start_new_session=True,
                                cwd=STATE)
    started = _start_time(proc.pid)
    write(STATE / "pids" / f"{name}.pid", f"{proc.pid} {started}\n")
    return proc.pid


def uwsgi(name: str, port: int, wsgi: str, *, env: Mapping[str, str] | None = None,
          pyargv: str | None = None, processes: int = 1, threads: int = 4) -> None:
    lines = ["[uwsgi]", "plugins = python3", f"http-socket = 127.0.0.1:{port}",
             f"wsgi-file = {wsgi}", "master = true", f"processes = {processes}",
             f"threads = {threads}",
             "enable-threads = true", "lazy-apps = true", "die-on-term = true",
             "no-orphans = true", "need-app = true", "buffer-size = 65535",
             "add-header = Connection: close", "http-auto-chunked = true",
             "http-chunked-input = true", "wsgi-manage-chunked-input = true",
             "http-raw-body = true", f"pythonpath = {STATE / 'pylib'}",
             f"procname-prefix = {name} "]
    lines += [f"env = {k}={v}" for k, v in (env or {}).items()]
    if pyargv:
        lines.append(f"pyargv = {pyargv}")
    path = write(STATE / "uwsgi" / f"{name}.ini", "\n".join(lines) + "\n")
    spawn(name, ["uwsgi", "--ini", str(path)])


def all_processes(regions: list[Region]) -> list[str]:
    names = ["keystone", "glance"]
    for r in regions:
        names += [f"{r.slug}-{s}" for s in ("placement", "neutron", "cinder", "nova-api",
                                             "conductor", "scheduler")]
        names += [f"{r.slug}-compute-{c.host}" for c in r.computes]
    return names


def stop(names: Iterable[str], timeout: float = 20.0) -> list[str]:
    """SIGTERM each running process of ours (its own session), SIGKILL what is left after
    ``timeout``; remove the PID files. Returns the names stopped."""
    running = {n: p for n in names if (p := pid_of(n))}
    for pid in running.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
            os.killpg(pid, signal.SIGCONT)  # a frozen process (freeze()) handles its SIGTERM
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in running.values()):
        time.sleep(0.3)
    for pid in running.values():
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    for name in names:
        (STATE / "pids" / f"{name}.pid").unlink(missing_ok=True)
    return list(running)


def freeze(names: Iterable[str]) -> list[str]:
    """SIGSTOP each running process of ours with its uwsgi workers (its whole session, by
    PID): it keeps its sockets open — connections are still accepted by the kernel — but
    answers nothing, as a hung datacentre. Returns the names frozen; :func:`kill` (or
    :func:`stop`) ends them."""
    running = {n: p for n in names if (p := pid_of(n))}
    for pid in running.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGSTOP)
    return list(running)


def frozen(name: str) -> bool:
    """Whether our process ``name`` runs but is stopped (:func:`freeze`)."""
    pid = pid_of(name)
    try:
        return pid is not None and \
            Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
    except (OSError, IndexError):
        return False


def kill(names: Iterable[str], timeout: float = 20.0) -> list[str]:
    """SIGKILL each running process of ours with its workers (frozen or not) — the kernel
    resets their connections — and wait until none of them is left; remove the PID files.
    Returns the names killed."""
    names = list(names)
    running = {n: p for n in names if (p := pid_of(n))}
    for pid in running.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(_group_alive(p) for p in running.values()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"still running after SIGKILL: {sorted(running)}")
        time.sleep(0.1)
    for name in names:
        (STATE / "pids" / f"{name}.pid").unlink(missing_ok=True)
    return list(running)


def _group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is left in process group ``pgid``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[2]) == pgid and stat[0] != "Z":
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_http(target: str, timeout: float = 180.0, name: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if name and not pid_of(name):
            raise RuntimeError(f"{name} exited; see {STATE / 'logs' / (name + '.log')}")
        try:
            with urllib.request.urlopen(target, timeout=10):
                return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            last = exc
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        time.sleep(0.5)
    raise RuntimeError(f"{target} did not answer within {timeout:.0f} s ({last})")


# --- configuration -----------------------------------------------------------------------------

FAKE_DRIVER = '''\
"""A fake virt driver whose host size comes from the environment (GCRC_VCPUS, ...), and whose
new servers take a guest from a pool when the tests put one there (GCRC_GUESTS): the fake
driver runs no guest, so a test that needs one (a DR drill's health check over SSH) backs the
server with an sshd sandbox, as the simulator does (POST /_sim/sandboxes)."""
import io
import json
import os

from nova.image import glance
from nova.virt import fake


class SizedFakeDriver(fake.FakeDriver):
    vcpus = int(os.environ.get("GCRC_VCPUS", "1000"))
    memory_mb = int(os.environ.get("GCRC_MEMORY_MB", "800000"))
    local_gb = int(os.environ.get("GCRC_LOCAL_GB", "600000"))

    def spawn(self, context, instance, *args, **kwargs):
        super().spawn(context, instance, *args, **kwargs)
        guest = _next_guest()
        if guest and "sim:ssh" not in (instance.metadata or {}):
            # saved with the instance when the build ends (ACTIVE)
            instance.metadata = {**(instance.metadata or {}), **guest}

    def snapshot(self, context, instance, image_id, update_task_state):
        """Upload a disk, as a real driver does: fake's own leaves the image ``queued``, which
        Nova then refuses to boot or unshelve from (a drill's boot from a shelved image)."""
        super().snapshot(context, instance, image_id, update_task_state)
        disk = io.BytesIO(f"gcrc disk of {instance.uuid}".encode())
        glance.API().update(context, image_id, {"disk_format": "raw",
                                                "container_format": "bare"},
                            disk, purge_props=False)


def _next_guest():
    """The guest a new server gets: the oldest entry of the pool directory GCRC_GUESTS (a
    JSON object of metadata, e.g. an sshd sandbox's {"sim:ssh": "127.0.0.1:PORT", ...}),
    claimed by an atomic rename so that no two servers get the same one; none when empty."""
    pool = os.environ.get("GCRC_GUESTS")
    if not pool or not os.path.isdir(pool):
        return None
    for name in sorted(os.listdir(pool)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(pool, name)
        taken = path + ".taken"
        try:
            os.rename(path, taken)
        except OSError:
            continue  # another compute took it
        with open(taken) as f:
            guest = json.load(f)
        os.unlink(taken)
        return {str(k): str(v) for k, v in guest.items()}
    return None
'''

COMPUTE_LAUNCHER = '''\
"""nova-compute with the sized fake driver (nova loads drivers from nova.virt only)."""
import sys

import nova.virt

nova.virt.__path__.append({pylib!r})

from nova.cmd.compute import main  # noqa: E402

sys.exit(main())
'''

MECH_DRIVER = '''\
"""An ML2 mechanism driver that binds every port to the first segment (no agents)."""
from neutron_lib.plugins.ml2 import api


class BindAllDriver(api.MechanismDriver):
    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], "other", {}, status="ACTIVE")
            return
'''

NEUTRON_WSGI = '''\
"""neutron-api for uwsgi; configure the ORM mappers once at start (the first port query fails
otherwise)."""
import sqlalchemy.orm

from neutron.cmd.eventlet.server import main_api_eventlet

application = main_api_eventlet()
sqlalchemy.orm.configure_mappers()
'''


def offer_guests(guests: list[dict[str, str]]) -> None:
    """Put guests (server metadata, e.g. an sshd sandbox's ``sim:ssh``) in the pool the next
    new servers take theirs from, in order (the fake driver's ``_next_guest``)."""
    GUESTS.mkdir(parents=True, exist_ok=True)
    for guest in guests:
        name = f"{time.time_ns():020d}"
        write(GUESTS / f"{name}.tmp", json.dumps(guest))
        (GUESTS / f"{name}.tmp").rename(GUESTS / f"{name}.json")


def clear_guests() -> None:
    """Empty the pool (what a test offered and no server took)."""
    for path in GUESTS.glob("*.json"):
        path.unlink(missing_ok=True)


def write_pylib() -> None:
    pylib = STATE / "pylib"
    GUESTS.mkdir(parents=True, exist_ok=True)
    write(pylib / "gcrc_fake.py", FAKE_DRIVER)
    write(pylib / "gcrc_mech.py", MECH_DRIVER)
    write(pylib / "neutron_wsgi.py", NEUTRON_WSGI)
    write(pylib / "fake_compute.py", COMPUTE_LAUNCHER.format(pylib=str(pylib)))
    dist = pylib / "gcrc_mech-1.0.dist-info"
    write(dist / "METADATA", "Metadata-Version: 2.1\nName: gcrc-mech\nVersion: 1.0\n")
    write(dist / "entry_points.txt",
          "[neutron.ml2.mechanism_drivers]\nbind_all = gcrc_mech:BindAllDriver\n")


def write_shared_configs() -> None:
    ks = STATE / "keystone"
    write(ks / "keystone.conf", ini({
        "DEFAULT": {"log_file": STATE / "logs" / "keystone-app.log"},
        "database": {"connection": DB_URL.format(db=f"{DB_PREFIX}_keystone")},
        "token": {"provider": "fernet"},
        "fernet_tokens": {"key_repository": ks / "fernet-keys"},
        "credential": {"key_repository": ks / "credential-keys"},
        "cache": {"enabled": "true", "backend": "dogpile.cache.memory"},
    }))
    gl = STATE / "glance"
    gl.mkdir(parents=True, exist_ok=True)
    shutil.copy("/etc/glance/glance-api-paste.ini", gl / "glance-api-paste.ini")
    write(gl / "glance-api.conf", ini({
        "DEFAULT": {"log_file": STATE / "logs" / "glance-app.log",
                    "enabled_backends": "fs:file"},
        "database": {"connection": DB_URL.format(db=f"{DB_PREFIX}_glance")},
        "keystone_authtoken": authtoken(),
        "paste_deploy": {"flavor": "keystone"},
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": gl / "images"},
        "os_glance_staging_store": {"filesystem_store_datadir": gl / "staging"},
        "os_glance_tasks_store": {"filesystem_store_datadir": gl / "tasks"},
        "oslo_concurrency": {"lock_path": gl / "lock"},
    }))


# RabbitMQ drops a connection whose AMQP heartbeats stop, and under uwsgi nothing sends them
# while an API is idle: the next cast (e.g. a server build) was lost. A heartbeat pthread
# deadlocks with eventlet ("cannot switch to a different thread"), so the APIs run without
# AMQP heartbeats (TCP keeps the loopback connection).
API_MESSAGING = {"oslo_messaging_rabbit": {"heartbeat_timeout_threshold": 0}}


def write_region_configs(r: Region) -> None:
    d = r.dir
    transport = RABBIT.format(vhost=r.vhost)
    common = {"oslo_concurrency": {"lock_path": d / "lock"},
              "oslo_messaging_notifications": {"driver": "noop"}}
    write(d / "placement.conf", ini({
        "DEFAULT": {"log_file": STATE / "logs" / f"{r.slug}-placement-app.log"},
        "placement_database": {"connection": DB_URL.format(db=r.db("placement"))},
        "api": {"auth_strategy": "keystone"},
        "keystone_authtoken": authtoken(),
    }))
    shutil.copy("/etc/neutron/api-paste.ini", d / "neutron-api-paste.ini")
    write(d / "neutron.conf", ini({
        "DEFAULT": {"core_plugin": "ml2", "service_plugins": "router", "auth_strategy": "keystone",
                    "transport_url": transport, "state_path": d / "neutron",
                    "api_paste_config": d / "neutron-api-paste.ini",
                    "log_file": STATE / "logs" / f"{r.slug}-neutron-app.log",
                    "notify_nova_on_port_status_changes": "false",
                    "notify_nova_on_port_data_changes": "false",
                    "dhcp_agent_notification": "false", "allow_overlapping_ips": "true"},
        "database": {"connection": DB_URL.format(db=r.db("neutron"))},
        "keystone_authtoken": authtoken(),
        "nova": auth_section(r.name),
        # tenant networks (a DR drill's isolated network) are VXLAN, as on a real cloud
        "ml2": {"type_drivers": "flat,vxlan", "tenant_network_types": "vxlan",
                "mechanism_drivers": "bind_all", "extension_drivers": "port_security"},
        "ml2_type_flat": {"flat_networks": "physnet1"},
        "ml2_type_vxlan": {"vni_ranges": "1:1000"},
        **common, **API_MESSAGING,
    }))
    shutil.copy("/etc/cinder/api-paste.ini", d / "cinder-api-paste.ini")
    write(d / "cinder.conf", ini({
        "DEFAULT": {"auth_strategy": "keystone", "transport_url": transport,
                    "state_path": d / "cinder", "api_paste_config": d / "cinder-api-paste.ini",
                    "log_file": STATE / "logs" / f"{r.slug}-cinder-app.log",
                    "my_ip": "127.0.0.1", "enabled_backends": ""},
        "database": {"connection": DB_URL.format(db=r.db("cinder"))},
        "keystone_authtoken": authtoken(),
        **common, **API_MESSAGING,
    }))
    write(d / "nova-api.conf", ini(API_MESSAGING))
    shutil.copy("/etc/nova/api-paste.ini", d / "api-paste.ini")
    write(d / "nova.conf", ini({
        "DEFAULT": {"transport_url": transport, "my_ip": "127.0.0.1",
                    "state_path": d / "nova", "instances_path": d / "nova" / "instances",
                    "compute_driver": "gcrc_fake.SizedFakeDriver",
                    "osapi_compute_workers": 1, "metadata_workers": 1},
        "api": {"auth_strategy": "keystone"},
        "api_database": {"connection": DB_URL.format(db=r.db("nova_api"))},
        "database": {"connection": DB_URL.format(db=r.db("nova"))},
        "keystone_authtoken": authtoken(),
        "placement": {**auth_section(r.name), "valid_interfaces": "public"},
        "neutron": {**auth_section(r.name), "valid_interfaces": "public"},
        "glance": {"region_name": r.name, "valid_interfaces": "public"},
        "cinder": {"os_region_name": r.name},
        "service_user": {**auth_section(), "send_service_user_token": "false"},
        "scheduler": {"discover_hosts_in_cells_interval": 15, "workers": 1},
        "conductor": {"workers": 1},
        "vnc": {"enabled": "false"},
        "spice": {"enabled": "false"},
        "upgrade_levels": {"compute": "auto"},
        **common,
    }))
    for c in r.computes:
        write(d / f"compute-{c.host}.conf", ini({"DEFAULT": {
            "host": c.host, **r.settings}}))


# --- setup steps -------------------------------------------------------------------------------

def databases(regions: list[Region]) -> list[str]:
    names = [f"{DB_PREFIX}_keystone", f"{DB_PREFIX}_glance"]
    for r in regions:
        names += [r.db(n) for n in ("nova_api", "nova", "nova_cell0", "placement", "neutron",
                                    "cinder")]
    return names


def create_databases(regions: list[Region]) -> None:
    mysql(" ".join(f"CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4;"
                   for db in databases(regions)))
    for r in regions:
        run("rabbitmqctl", "add_vhost", r.vhost, check=False)
        run("rabbitmqctl", "set_permissions", "-p", r.vhost, "guest", ".*", ".*", ".*")


def keystone_setup() -> None:
    conf = str(STATE / "keystone" / "keystone.conf")
    run("keystone-manage", "--config-file", conf, "db_sync")
    for what in ("fernet_setup", "credential_setup"):
        run("keystone-manage", "--config-file", conf, what, "--keystone-user", "root",
            "--keystone-group", "root")
    run("keystone-manage", "--config-file", conf, "bootstrap",
        "--bootstrap-password", ADMIN_PASSWORD, "--bootstrap-admin-url", KEYSTONE_URL,
        "--bootstrap-internal-url", KEYSTONE_URL, "--bootstrap-public-url", KEYSTONE_URL,
        "--bootstrap-region-id", "PROD")


def nova_setup(r: Region) -> None:
    conf = str(r.dir / "nova.conf")
    run("nova-manage", "--config-file", conf, "api_db", "sync")
    run("nova-manage", "--config-file", conf, "cell_v2", "map_cell0")
    cells = run("nova-manage", "--config-file", conf, "cell_v2", "list_cells").stdout
    if " cell1 " not in cells:
        run("nova-manage", "--config-file", conf, "cell_v2", "create_cell", "--name", "cell1")
    run("nova-manage", "--config-file", conf, "db", "sync")


def db_syncs(regions: list[Region]) -> list[Callable[[], None]]:
    fns: list[Callable[[], None]] = [lambda: step("glance-db", lambda: run(
        "glance-manage", "--config-file", str(STATE / "glance" / "glance-api.conf"), "db_sync"))]
    for r in regions:
        fns += [
            lambda r=r: step(f"{r.slug}-placement-db", lambda: run(
                "placement-manage", "--config-file", str(r.dir / "placement.conf"), "db",
                "sync")),
            lambda r=r: step(f"{r.slug}-neutron-db", lambda: run(
                "neutron-db-manage", "--config-file", str(r.dir / "neutron.conf"), "upgrade",
                "heads")),
            lambda r=r: step(f"{r.slug}-cinder-db", lambda: run(
                "cinder-manage", "--config-file", str(r.dir / "cinder.conf"), "db", "sync")),
            lambda r=r: step(f"{r.slug}-nova-db", lambda: nova_setup(r)),
        ]
    return fns


def admin_connection(region: str = "PROD") -> Any:
    import openstack

    return openstack.connect(
        auth_url=KEYSTONE_URL, username="admin", password=ADMIN_PASSWORD,
        project_name="admin", user_domain_name="Default", project_domain_name="Default",
        region_name=region, identity_api_version="3")


def register_catalog(regions: list[Region]) -> None:
    conn = admin_connection()
    idn = conn.identity
    for r in regions:
        if idn.find_region(r.name) is None:
            idn.create_region(id=r.name)
    services = {s.type: s for s in idn.services()}

    def service(type_: str, name: str) -> Any:
        if type_ not in services:
            services[type_] = idn.create_service(type=type_, name=name, is_enabled=True)
        return services[type_]

    endpoints = {(e.service_id, e.region_id, e.interface) for e in idn.endpoints()}

    def endpoint(svc: Any, region: str, target: str) -> None:
        for interface in ("public", "internal", "admin"):
            if (svc.id, region, interface) not in endpoints:
                idn.create_endpoint(service_id=svc.id, region_id=region, interface=interface,
                                    url=target, is_enabled=True)

    for r in regions:
        endpoint(service("identity", "keystone"), r.name, KEYSTONE_URL)
        endpoint(service("image", "glance"), r.name, url(GLANCE_PORT))
        endpoint(service("placement", "placement"), r.name, url(r.port("placement")))
        endpoint(service("compute", "nova"), r.name, url(r.port("nova"), "/v2.1"))
        endpoint(service("network", "neutron"), r.name, url(r.port("neutron")))
        endpoint(service("volumev3", "cinderv3"), r.name,
                 url(r.port("cinder"), "/v3/%(project_id)s"))

    service_project = idn.find_project("service") or idn.create_project(
        name="service", domain_id="default", description="OpenStack services")
    admin_role = idn.find_role("admin")
    user = idn.find_user(SERVICE_USER) or idn.create_user(
        name=SERVICE_USER, password=SERVICE_PASSWORD, domain_id="default")
    idn.assign_project_role_to_user(service_project, user, admin_role)
    if idn.find_role("service") is None:
        idn.create_role(name="service")
    idn.assign_project_role_to_user(service_project, user, idn.find_role("service"))
    member_project = idn.find_project(MEMBER_PROJECT) or idn.create_project(
        name=MEMBER_PROJECT, domain_id="default", description="a plain member, for 403 checks")
    member = idn.find_user(MEMBER_USER) or idn.create_user(
        name=MEMBER_USER, password=MEMBER_PASSWORD, domain_id="default")
    idn.assign_project_role_to_user(member_project, member, idn.find_role("member"))


def start_shared() -> None:
    uwsgi("keystone", KEYSTONE_PORT, "/usr/bin/keystone-wsgi-public",
          env={"OS_KEYSTONE_CONFIG_FILES": str(STATE / "keystone" / "keystone.conf")})


def start_glance() -> None:
    uwsgi("glance", GLANCE_PORT, "/usr/bin/glance-wsgi-api",
          env={"OS_GLANCE_CONFIG_DIR": str(STATE / "glance")})


def start_region_apis(r: Region) -> None:
    d = r.dir
    uwsgi(f"{r.slug}-placement", r.port("placement"), "/usr/bin/placement-api",
          env={"OS_PLACEMENT_CONFIG_DIR": str(d)})
    uwsgi(f"{r.slug}-neutron", r.port("neutron"), str(STATE / "pylib" / "neutron_wsgi.py"),
          env={"OS_NEUTRON_CONFIG_DIR": str(d), "OS_NEUTRON_CONFIG_FILES": "neutron.conf"},
          processes=2, threads=1)  # eventlet-patched: one request per process
    uwsgi(f"{r.slug}-cinder", r.port("cinder"), "/usr/bin/cinder-wsgi",
          pyargv=f"--config-file {d / 'cinder.conf'}")
    uwsgi(f"{r.slug}-nova-api", r.port("nova"), "/usr/bin/nova-api-wsgi",
          env={"OS_NOVA_CONFIG_DIR": str(d),
               "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf;nova-api.conf"},
          processes=2, threads=1)  # nova-api uses eventlet primitives: one request per process


def start_region_daemons(r: Region) -> None:
    conf = str(r.dir / "nova.conf")
    for binary in ("conductor", "scheduler"):
        spawn(f"{r.slug}-{binary}", [f"/usr/bin/nova-{binary}", "--config-file", conf])
    for c in r.computes:
        spawn(f"{r.slug}-compute-{c.host}",
              [PY, str(STATE / "pylib" / "fake_compute.py"), "--config-file", conf,
               "--config-file", str(r.dir / f"compute-{c.host}.conf")],
              env={"GCRC_VCPUS": str(c.vcpus), "GCRC_MEMORY_MB": str(c.memory_mb),
                   "GCRC_LOCAL_GB": str(c.local_gb), "GCRC_GUESTS": str(GUESTS)})


def wait_apis(regions: list[Region]) -> None:
    wait_http(url(GLANCE_PORT), name="glance")
    for r in regions:
        wait_http(url(r.port("placement")), name=f"{r.slug}-placement")
        wait_http(url(r.port("neutron")), name=f"{r.slug}-neutron")
        wait_http(url(r.port("cinder")), name=f"{r.slug}-cinder")
        wait_http(url(r.port("nova")), name=f"{r.slug}-nova-api")


def wait_computes(regions: list[Region], timeout: float = 300.0) -> None:
    """Until every compute host is a resource provider with VCPU inventory in its region's
    Placement, and mapped to the cell (so the scheduler sees it)."""
    for r in regions:
        conn = admin_connection(r.name)
        want = {c.host for c in r.computes}
        deadline = time.monotonic() + timeout
        while True:
            ready = set()
            for rp in conn.placement.resource_providers():
                invs = list(conn.placement.resource_provider_inventories(rp))
                if any(i.resource_class == "VCPU" for i in invs):
                    ready.add(rp.name)
            if want <= ready:
                break
            for c in r.computes:
                if not pid_of(f"{r.slug}-compute-{c.host}"):
                    raise RuntimeError(f"compute {c.host} exited; see "
                                       f"{STATE / 'logs' / f'{r.slug}-compute-{c.host}.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{r.name}: computes {sorted(want - ready)} did not report "
                                   f"to Placement within {timeout:.0f} s")
            time.sleep(2)
        run("nova-manage", "--config-file", str(r.dir / "nova.conf"), "cell_v2",
            "discover_hosts")
        hosts = {h.name for h in conn.compute.hypervisors()}
        if not want <= hosts:
            raise RuntimeError(f"{r.name}: hypervisors {sorted(want - hosts)} not listed")


def resources(regions: list[Region]) -> None:
    """Flavors and a flat network per region, one shared image."""
    conn = admin_connection()
    if conn.image.find_image(IMAGE) is None:
        conn.image.create_image(name=IMAGE, disk_format="raw", container_format="bare",
                                visibility="public", data=b"\0" * 1024 * 1024)
    for r in regions:
        conn = admin_connection(r.name)
        for name, flavor_id, vcpus, ram, disk in FLAVORS:
            if conn.compute.find_flavor(name) is None:
                conn.compute.create_flavor(name=name, id=flavor_id, vcpus=vcpus, ram=ram,
                                           disk=disk, is_public=True)
        net = conn.network.find_network(NETWORK)
        if net is None:
            net = conn.network.create_network(
                name=NETWORK, shared=True, provider_network_type="flat",
                provider_physical_network="physnet1")
        if not list(conn.network.subnets(network_id=net.id)):
            conn.network.create_subnet(network_id=net.id, ip_version=4, enable_dhcp=False,
                                       cidr=f"10.{r.index + 10}.0.0/16", name=f"{NETWORK}-v4")


def clouds_yaml() -> Path:
    base = {"auth_url": KEYSTONE_URL, "user_domain_name": "Default",
            "project_domain_name": "Default"}
    doc = {"clouds": {
        CLOUD: {"auth": {**base, "username": "admin", "password": ADMIN_PASSWORD,
                         "project_name": "admin"},
                "identity_api_version": 3, "interface": "public"},
        MEMBER_CLOUD: {"auth": {**base, "username": MEMBER_USER, "password": MEMBER_PASSWORD,
                                "project_name": MEMBER_PROJECT},
                       "identity_api_version": 3, "interface": "public"},
    }}
    path = STATE / "clouds.yaml"
    write(path, yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


def sites_json(regions: list[Region]) -> str:
    """The govcloud ``sites`` setting for this cloud (GOVCLOUD_SITES)."""
    return json.dumps({r.name: {"cloud": CLOUD, "region": r.name, "role": r.role}
                       for r in regions})


# --- commands ----------------------------------------------------------------------------------

def up(regions: list[Region]) -> dict[str, Any]:
    t0 = time.monotonic()
    names = all_processes(regions)
    if (STATE / "done" / "ready").exists() and all(pid_of(n) for n in names):
        say(f"reusing the running cloud in {STATE}")
        return info(regions, reused=True, seconds=time.monotonic() - t0)
    step("apt", lambda: run(str(HERE / "install.sh"), what="apt install"))
    for d in ("pids", "logs", "done"):
        (STATE / d).mkdir(parents=True, exist_ok=True)
    write_pylib()
    write_shared_configs()
    for r in regions:
        write_region_configs(r)
    step("databases", lambda: create_databases(regions))
    step("keystone", keystone_setup)
    start_shared()
    parallel(db_syncs(regions))
    wait_http(KEYSTONE_URL, name="keystone")
    step("catalog", lambda: register_catalog(regions))
    start_glance()
    for r in regions:
        start_region_apis(r)
    wait_apis(regions)
    for r in regions:
        start_region_daemons(r)
    wait_computes(regions)
    step("resources", lambda: resources(regions))
    clouds_yaml()
    write(STATE / "done" / "ready", f"{time.time()}\n")
    say(f"cloud up in {time.monotonic() - t0:.0f} s; clouds.yaml at {STATE / 'clouds.yaml'}")
    return info(regions, reused=False, seconds=time.monotonic() - t0)


def info(regions: list[Region], **extra: Any) -> dict[str, Any]:
    procs = {n: pid_of(n) for n in all_processes(regions)}
    return {"state_dir": str(STATE), "clouds_yaml": str(STATE / "clouds.yaml"),
            "cloud": CLOUD, "member_cloud": MEMBER_CLOUD, "sites": json.loads(
                sites_json(regions)), "processes": procs,
            "running": sum(1 for p in procs.values() if p), "rss_mb": rss_mb(procs.values()),
            **extra}


def rss_mb(pids: Iterable[int | None]) -> int:
    """Resident memory of our processes and their children (uwsgi workers), in MiB."""
    roots = {p for p in pids if p}
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) in roots or int(stat[3]) in roots:  # itself or its session
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total // 1024


def down(regions: list[Region], *, purge: bool) -> dict[str, Any]:
    stopped = stop(all_processes(regions))
    say(f"stopped {len(stopped)} processes")
    if purge:
        mysql(" ".join(f"DROP DATABASE IF EXISTS `{db}`;" for db in databases(regions)))
        for r in regions:
            run("rabbitmqctl", "delete_vhost", r.vhost, check=False)
        shutil.rmtree(STATE, ignore_errors=True)
        say(f"purged the databases, vhosts and {STATE}")
    return {"stopped": stopped, "purged": purge}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.realcloud.cloud",
                                     description=textwrap.dedent(__doc__ or "").split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "status", "down", "env"):
        p = sub.add_parser(name)
        p.add_argument("--json", action="store_true")
        if name == "down":
            p.add_argument("--purge", action="store_true",
                           help="also drop the databases, vhosts and the state directory")
    args = parser.parse_args(argv)
    regions = load_topology()
    if args.command == "env":  # for a shell: eval "$(python -m tests.realcloud.cloud env)"
        print(f"export GOVCLOUD_CLOUDS_YAML={STATE / 'clouds.yaml'}")
        print(f"export OS_CLIENT_CONFIG_FILE={STATE / 'clouds.yaml'}")
        print(f"export GOVCLOUD_SITES='{sites_json(regions)}'")
        print(f"export GOVCLOUD_REALCLOUD={STATE}")
        return 0
    try:
        if args.command == "up":
            result = up(regions)
        elif args.command == "down":
            result = down(regions, purge=args.purge)
        else:
            result = info(regions, ready=(STATE / "done" / "ready").exists())
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
    elif args.command == "status":
        for name, pid in result["processes"].items():
            print(f"{name:40} {pid or 'stopped'}")
        print(f"{result['running']} running, {result['rss_mb']} MiB RSS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
