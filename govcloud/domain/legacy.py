"""Legacy hosts: the inventory file format, and what an SSH survey found on a host.

A department's legacy hosts are an Ansible YAML inventory (``inventory/legacy/<dept>.yaml``).
Variables are inherited from ``all`` through child groups to hosts, as Ansible does; the ones
govcloud reads (see docs/migration.md) are::

    ansible_host, ansible_port (22), ansible_user (root)
    govcloud_department            the department's code (usually set once under all.vars)
    govcloud_system                the department's system the host belongs to
    govcloud_data_paths            absolute paths to migrate (directories or files)
    govcloud_service               the service to stop at freeze / start at cutover
    govcloud_service_stop|start    the commands (default: systemctl stop|start <service>)
    govcloud_health_check          a command that exits 0 when the service is healthy
    govcloud_dr_level              1–6 (default: the department's DR level)
    govcloud_root                  a filesystem prefix for paths (sandboxes; default /)
    govcloud_target                optional pre-built target {address, port, user, root,
                                   host_key: its SHA256 fingerprint, pinned}

Everything here is pure: parsing takes the already-loaded YAML mapping or command output.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from govcloud.errors import InvalidInput

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DR_LEVELS = range(1, 7)
# What reaches ssh, rsync and Ansible's command lines (``user@address``, ``-l user``, ``-p``)
# is one of these, so that no value can start with '-' and be read as an option
# (``-oProxyCommand=...``), nor carry a newline into known_hosts or a shell.
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")  # RFC 1123
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")                          # POSIX user name
_UNIT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9@_.:\\-]{0,254}$")           # systemd unit name
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")                 # OpenSSH's
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _shown(value: Any) -> str:
    """``value`` for an error message: bounded, control characters escaped."""
    text = repr(str(value))
    return text if len(text) <= 80 else text[:77] + "..."


def check_address(value: Any, where: str, var: str = "ansible_host") -> str:
    """``value`` if it is a host name (RFC 1123), an IPv4 or an IPv6 address, else raise."""
    text = value if isinstance(value, str) else ""
    if text and "%" not in text:
        try:
            ipaddress.ip_address(text)
            return text
        except ValueError:
            pass
        labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
        if len(text) <= 253 and all(_LABEL.fullmatch(x) for x in labels):
            return text
    raise InvalidInput(f"{where}: {var} {_shown(value)} is not a host name, an IPv4 or an "
                       "IPv6 address",
                       hint="a host name is dot-separated labels of letters, digits and '-' "
                            "(not first or last), e.g. db1.psd.gov or 10.20.1.11")


def check_user(value: Any, where: str, var: str = "ansible_user") -> str:
    """``value`` if it is a POSIX user name (``^[a-z_][a-z0-9_-]{0,31}$``), else raise."""
    if isinstance(value, str) and _USER.fullmatch(value):
        return value
    raise InvalidInput(f"{where}: {var} {_shown(value)} is not a user name",
                       hint="lower-case letters, digits, '_' and '-', starting with a letter "
                            "or '_', at most 32 characters")


def check_path(value: Any, where: str, var: str) -> str:
    """``value`` if it is an absolute path without '..' or control characters, else raise."""
    if (isinstance(value, str) and value.startswith("/") and len(value) <= 4096
            and ".." not in value.split("/") and not _CONTROL.search(value)):
        return value
    raise InvalidInput(f"{where}: {var} {_shown(value)} must be an absolute path, without "
                       "'..' or control characters")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where to reach a machine over SSH; ``root`` prefixes every data path on it."""

    address: str
    port: int = 22
    user: str = "root"
    root: str = "/"

    def __post_init__(self) -> None:
        # every endpoint, wherever it comes from (an inventory, the store, a server's
        # metadata), is safe to put on an ssh/rsync command line and into known_hosts
        check_address(self.address, "endpoint", "address")
        check_user(self.user, "endpoint", "user")
        check_path(self.root, "endpoint", "root")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or \
                not 1 <= self.port <= 65535:
            raise InvalidInput(f"endpoint: port {_shown(self.port)} is out of range 1–65535")

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH and paramiko file its key under in known_hosts."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    def path(self, data_path: str) -> str:
        """``data_path`` on this machine (under ``root``)."""
        if self.root in ("", "/"):
            return data_path
        return self.root.rstrip("/") + "/" + data_path.lstrip("/")

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "port": self.port, "user": self.user,
                "root": self.root}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str) -> Endpoint:
        if not isinstance(data, Mapping) or not data.get("address"):
            raise InvalidInput(f"{where}: a target needs at least an address",
                               hint="e.g. govcloud_target: {address: 10.0.0.5, port: 22}")
        return cls(address=check_address(data["address"], where, "target address"),
                   port=_port(data.get("port", 22), where),
                   user=check_user(data.get("user", "root"), where, "target user"),
                   root=check_path(data.get("root", "/"), where, "target root"))


@dataclass(frozen=True, slots=True)
class TargetCopy:
    """A DR copy of a host's target (a standby or cold copy in another site): it gets the
    same data as the target, by the same rsync, at every sync."""

    site: str
    kind: str                 # standby | cold (the DR policy's copy kind)
    endpoint: Endpoint
    server: str | None = None

    @property
    def label(self) -> str:
        return f"{self.site} {self.kind} copy {self.endpoint.known_hosts_name}"

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "kind": self.kind, "server": self.server,
                **self.endpoint.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str) -> TargetCopy:
        return cls(site=str(data.get("site", "")), kind=str(data.get("kind", "copy")),
                   endpoint=Endpoint.from_dict(data, where=where),
                   server=str(data["server"]) if data.get("server") else None)


@dataclass(frozen=True, slots=True)
class LegacyHost:
    """One legacy host as its department's inventory file declares it."""

    name: str
    department: str
    system: str
    endpoint: Endpoint
    data_paths: tuple[str, ...] = ()
    service: str | None = None
    service_stop: str | None = None
    service_start: str | None = None
    health_check: str | None = None
    dr_level: int | None = None
    target: Endpoint | None = None
    groups: tuple[str, ...] = ()
    target_host_key: str | None = None  # the declared target's pinned SHA256 fingerprint

    @property
    def stop_command(self) -> str | None:
        if self.service_stop:
            return self.service_stop
        return f"systemctl stop -- {shlex.quote(self.service)}" if self.service else None

    @property
    def start_command(self) -> str | None:
        if self.service_start:
            return self.service_start
        return f"systemctl start -- {shlex.quote(self.service)}" if self.service else None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "department": self.department, "system": self.system,
                "endpoint": self.endpoint.to_dict(), "data_paths": list(self.data_paths),
                "service": self.service, "service_stop": self.service_stop,
                "service_start": self.service_start, "health_check": self.health_check,
                "dr_level": self.dr_level,
                "target": self.target.to_dict() if self.target else None,
                "groups": list(self.groups), "target_host_key": self.target_host_key}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LegacyHost:
        target = d.get("target")
        return cls(name=d["name"], department=d["department"], system=d["system"],
                   endpoint=Endpoint.from_dict(d["endpoint"], where=d["name"]),
                   data_paths=tuple(d.get("data_paths") or ()), service=d.get("service"),
                   service_stop=d.get("service_stop"), service_start=d.get("service_start"),
                   health_check=d.get("health_check"), dr_level=d.get("dr_level"),
                   target=Endpoint.from_dict(target, where=d["name"]) if target else None,
                   groups=tuple(d.get("groups") or ()),
                   target_host_key=d.get("target_host_key"))


def _port(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{where}: port {value!r} is not a number")
    try:
        port = int(value)
    except ValueError:
        raise InvalidInput(f"{where}: port {value!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise InvalidInput(f"{where}: port {port} is out of range 1–65535")
    return port


def _str_or_none(value: Any, where: str, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidInput(f"{where}: {key} must be a string")
    if len(str(value)) > 4096 or "\x00" in str(value):
        raise InvalidInput(f"{where}: {key} must be at most 4096 characters, without NUL")
    return str(value)


def _walk(group: str, body: Any, inherited: Mapping[str, Any], groups: tuple[str, ...],
          out: dict[str, tuple[dict[str, Any], list[str]]], where: str) -> None:
    if body is None:
        return
    if not isinstance(body, Mapping):
        raise InvalidInput(f"{where}: group {group!r} must be a mapping of hosts/vars/children")
    unknown = set(body) - {"hosts", "vars", "children"}
    if unknown:
        raise InvalidInput(f"{where}: group {group!r} has unknown keys {sorted(unknown)}",
                           hint="a group holds only hosts, vars and children")
    gvars = body.get("vars") or {}
    if not isinstance(gvars, Mapping):
        raise InvalidInput(f"{where}: vars of group {group!r} must be a mapping")
    merged = {**inherited, **gvars}
    path = (*groups, group)
    hosts = body.get("hosts") or {}
    if not isinstance(hosts, Mapping):
        raise InvalidInput(f"{where}: hosts of group {group!r} must be a mapping")
    for name, hvars in hosts.items():
        if hvars is not None and not isinstance(hvars, Mapping):
            raise InvalidInput(f"{where}: host {name!r} must map to its variables")
        seen = out.get(str(name))
        base = seen[0] if seen else {}
        out[str(name)] = ({**base, **merged, **(hvars or {})},
                          [*(seen[1] if seen else []), *[g for g in path if g != "all"]])
    children = body.get("children") or {}
    if not isinstance(children, Mapping):
        raise InvalidInput(f"{where}: children of group {group!r} must be a mapping")
    for child, child_body in children.items():
        _walk(str(child), child_body, merged, path, out, where)


def parse_inventory(data: Any, *, where: str = "inventory",
                    department: str | None = None) -> list[LegacyHost]:
    """The legacy hosts of an Ansible YAML inventory (already loaded), validated.

    Every problem names the host and the variable; nothing is returned unless all is well.
    """
    if not isinstance(data, Mapping) or "all" not in data:
        raise InvalidInput(f"{where}: an inventory file is a mapping with a top-level 'all' group",
                           hint="see docs/migration.md for the format")
    found: dict[str, tuple[dict[str, Any], list[str]]] = {}
    _walk("all", data["all"], {}, (), found, where)
    if not found:
        raise InvalidInput(f"{where}: no hosts", hint="add hosts under all.hosts or a group")
    hosts = [_host(name, hvars, groups, where, department)
             for name, (hvars, groups) in found.items()]
    seen: dict[tuple[str, int], str] = {}
    for h in hosts:
        key = (h.endpoint.address, h.endpoint.port)
        if key in seen:
            raise InvalidInput(f"{where}: hosts {seen[key]} and {h.name} have the same address "
                               f"{h.endpoint.known_hosts_name}")
        seen[key] = h.name
    return hosts


def _host(name: str, v: Mapping[str, Any], groups: Sequence[str], where: str,
          department: str | None) -> LegacyHost:
    here = f"{where}: host {name}"
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"{here}: invalid host name",
                           hint="letters, digits, '.', '_' and '-', at most 63 characters")
    dept = str(v.get("govcloud_department") or department or "")
    if not _CODE.fullmatch(dept):
        raise InvalidInput(f"{here}: govcloud_department is missing or invalid ({dept!r})",
                           hint="set govcloud_department under all.vars, e.g. gd-psd")
    if department is not None and dept != department:
        raise InvalidInput(f"{here}: belongs to {dept}, not {department}")
    system = v.get("govcloud_system")
    if not isinstance(system, str) or not system:
        raise InvalidInput(f"{here}: govcloud_system (the department's system) is missing")
    if len(system) > 255 or _CONTROL.search(system):
        raise InvalidInput(f"{here}: govcloud_system {_shown(system)} must be at most 255 "
                           "characters, without control characters")
    paths = v.get("govcloud_data_paths") or []
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise InvalidInput(f"{here}: govcloud_data_paths must be a list of paths")
    for p in paths:
        check_path(p, here, "data path")
    level = v.get("govcloud_dr_level")
    if level is not None and (isinstance(level, bool) or level not in DR_LEVELS):
        raise InvalidInput(f"{here}: govcloud_dr_level {level!r} is not a DR level 1–6")
    target = v.get("govcloud_target")
    root = check_path(v.get("govcloud_root") or "/", here, "govcloud_root")
    service = _str_or_none(v.get("govcloud_service"), here, "service")
    if service is not None and not _UNIT.fullmatch(service):
        raise InvalidInput(f"{here}: govcloud_service {_shown(service)} is not a service "
                           "(unit) name",
                           hint="letters, digits and '@_.:-\\', not starting with '-'")
    return LegacyHost(
        name=name, department=dept, system=system,
        endpoint=Endpoint(address=check_address(v.get("ansible_host") or name, here,
                                                "ansible_host" if v.get("ansible_host")
                                                else "ansible_host (the host's name)"),
                          port=_port(v.get("ansible_port", 22), here),
                          user=check_user(v.get("ansible_user") or "root", here), root=root),
        data_paths=tuple(paths), service=service,
        service_stop=_str_or_none(v.get("govcloud_service_stop"), here, "service_stop"),
        service_start=_str_or_none(v.get("govcloud_service_start"), here, "service_start"),
        health_check=_str_or_none(v.get("govcloud_health_check"), here, "health_check"),
        dr_level=level,
        target=Endpoint.from_dict(target, where=here) if target is not None else None,
        groups=tuple(dict.fromkeys(groups)), target_host_key=_host_key(target, here))


def _host_key(target: Any, where: str) -> str | None:
    """A declared target's pinned host key fingerprint (``govcloud_target.host_key``)."""
    value = target.get("host_key") if isinstance(target, Mapping) else None
    if value is None:
        return None
    if not isinstance(value, str) or not _FINGERPRINT.fullmatch(value.strip()):
        raise InvalidInput(f"{where}: govcloud_target.host_key {_shown(value)} is not an "
                           "SSH SHA256 fingerprint",
                           hint="`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the "
                                "target prints it: SHA256: and 43 characters")
    return value.strip()


# --- the survey ---------------------------------------------------------------------------------

# One shell script, run once per host; each section starts with a marker line.
SURVEY_MARK = "@@govcloud:"


def survey_script(data_paths: Iterable[str], root: str = "/") -> str:
    """The POSIX shell script a survey runs on a host (read-only, no sudo needed)."""
    ep = Endpoint("x", root=root)
    du = " ".join(_quote(ep.path(p)) for p in data_paths)
    sections = {
        "os": "cat /etc/os-release 2>/dev/null",
        "kernel": "uname -sr",
        "cpu": "nproc 2>/dev/null || getconf _NPROCESSORS_ONLN",
        "mem": "grep -E '^MemTotal:' /proc/meminfo",
        "disks": "df -Pk -x tmpfs -x devtmpfs -x overlay 2>/dev/null || df -Pk",
        "data": f"for p in {du}; do printf '%s\\t' \"$p\"; "
                "(du -sk \"$p\" 2>/dev/null || echo '-1') | cut -f1; done" if du else "true",
        "addresses": "hostname -I 2>/dev/null",
        "listen": "ss -Htln 2>/dev/null",
        "established": "ss -Htn state established 2>/dev/null",
        "services": "systemctl list-units --type=service --state=running --no-legend "
                    "--plain 2>/dev/null",
        "cron": "crontab -l 2>/dev/null; ls -1 /etc/cron.d 2>/dev/null | sed 's|^|/etc/cron.d/|'",
        "mounts": "cat /proc/mounts",
        "iscsi": "ls -1 /sys/class/iscsi_session 2>/dev/null",
    }
    return "\n".join(f"echo '{SURVEY_MARK}{k}'; {cmd}" for k, cmd in sections.items()) + "\n"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@dataclass(frozen=True, slots=True)
class Disk:
    mount: str
    size_kb: int
    used_kb: int

    def to_dict(self) -> dict[str, Any]:
        return {"mount": self.mount, "size_kb": self.size_kb, "used_kb": self.used_kb}


@dataclass(frozen=True, slots=True)
class Connection:
    """An established TCP connection seen on the host: local and peer address:port."""

    local: str
    local_port: int
    peer: str
    peer_port: int

    def to_dict(self) -> dict[str, Any]:
        return {"local": self.local, "local_port": self.local_port, "peer": self.peer,
                "peer_port": self.peer_port}


@dataclass(frozen=True, slots=True)
class Survey:
    """What a survey found on one host (``reachable`` False: only ``error`` is set)."""

    reachable: bool
    error: str | None = None
    os_id: str | None = None
    os_version: str | None = None
    os_name: str | None = None
    kernel: str | None = None
    cpus: int | None = None
    ram_mb: int | None = None
    disks: tuple[Disk, ...] = ()
    data_kb: Mapping[str, int] = field(default_factory=dict)
    listening: tuple[int, ...] = ()
    connections: tuple[Connection, ...] = ()
    services: tuple[str, ...] = ()
    cron: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()  # network storage: "nfs4 server:/export on /mnt", iSCSI

    @property
    def data_bytes(self) -> int:
        return sum(max(kb, 0) for kb in self.data_kb.values()) * 1024

    @property
    def disk_gb(self) -> int:
        """The space in use on local disks, rounded up to whole GB."""
        used = sum(d.used_kb for d in self.disks)
        return -(-used // (1024 * 1024))

    def to_dict(self) -> dict[str, Any]:
        return {"reachable": self.reachable, "error": self.error, "os_id": self.os_id,
                "os_version": self.os_version, "os_name": self.os_name, "kernel": self.kernel,
                "cpus": self.cpus, "ram_mb": self.ram_mb,
                "disks": [d.to_dict() for d in self.disks], "data_kb": dict(self.data_kb),
                "data_bytes": self.data_bytes, "listening": list(self.listening),
                "connections": [c.to_dict() for c in self.connections],
                "services": list(self.services), "cron": list(self.cron),
                "mounts": list(self.mounts)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Survey:
        return cls(reachable=bool(d["reachable"]), error=d.get("error"), os_id=d.get("os_id"),
                   os_version=d.get("os_version"), os_name=d.get("os_name"),
                   kernel=d.get("kernel"), cpus=d.get("cpus"), ram_mb=d.get("ram_mb"),
                   disks=tuple(Disk(**x) for x in d.get("disks") or ()),
                   data_kb=dict(d.get("data_kb") or {}),
                   listening=tuple(d.get("listening") or ()),
                   connections=tuple(Connection(**c) for c in d.get("connections") or ()),
                   services=tuple(d.get("services") or ()), cron=tuple(d.get("cron") or ()),
                   mounts=tuple(d.get("mounts") or ()))


def _sections(output: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith(SURVEY_MARK):
            current = out.setdefault(line[len(SURVEY_MARK):].strip(), [])
        elif current is not None and line.strip():
            current.append(line.rstrip())
    return out


def _addr_port(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    if host.startswith("::ffff:"):
        host = host[7:]
    return host, int(port)


def _own_addresses(address: str, listed: Sequence[str]) -> frozenset[str]:
    """The addresses that are the host itself: the one we reached it on, and — unless that
    is a loopback address (a sandbox sharing the kernel) — every address it reports."""
    if address.startswith("127.") or address == "::1":
        return frozenset({address})
    return frozenset({address, *(a for a in listed if not a.startswith("127."))})


def parse_survey(output: str, *, address: str, data_paths: Sequence[str],
                 root: str = "/") -> Survey:
    """Turn the output of ``survey_script`` into a ``Survey``."""
    s = _sections(output)
    osr = {}
    for line in s.get("os", []):
        key, sep, value = line.partition("=")
        if sep:
            osr[key.strip()] = value.strip().strip('"')
    cpus = next((int(x) for x in s.get("cpu", []) if x.strip().isdigit()), None)
    ram = None
    for line in s.get("mem", []):
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            ram = int(parts[1]) // 1024
    disks = []
    for line in s.get("disks", []):
        parts = line.split()
        if len(parts) >= 6 and parts[1].isdigit() and parts[2].isdigit():
            disks.append(Disk(mount=parts[5], size_kb=int(parts[1]), used_kb=int(parts[2])))
    ep = Endpoint("x", root=root)
    by_real = {ep.path(p): p for p in data_paths}
    data_kb = {}
    for line in s.get("data", []):
        path, _, kb = line.partition("\t")
        if path in by_real:
            data_kb[by_real[path]] = int(kb) if kb.strip().lstrip("-").isdigit() else -1
    own = _own_addresses(address, " ".join(s.get("addresses", [])).split())
    listening: set[int] = set()
    for line in s.get("listen", []):
        parts = line.split()
        local = _addr_port(parts[3]) if len(parts) >= 4 else None
        if local and (local[0] in own or local[0] in ("*", "0.0.0.0", "::")):
            listening.add(local[1])
    conns = []
    for line in s.get("established", []):
        parts = line.split()
        if len(parts) < 4:
            continue
        local, peer = _addr_port(parts[-2]), _addr_port(parts[-1])
        if local and peer and local[0] in own and peer[0] not in own:
            conns.append(Connection(local[0], local[1], peer[0], peer[1]))
    mounts = [f"{p[2]} {p[0]} on {p[1]}" for p in (m.split() for m in s.get("mounts", []))
              if len(p) >= 3 and p[2] in ("nfs", "nfs4", "cifs", "smb3", "glusterfs", "cephfs")]
    mounts += [f"iscsi session {x}" for x in s.get("iscsi", [])]
    return Survey(
        reachable=True, os_id=osr.get("ID"), os_version=osr.get("VERSION_ID"),
        os_name=osr.get("PRETTY_NAME"), kernel=next(iter(s.get("kernel", [])), None), cpus=cpus,
        ram_mb=ram, disks=tuple(disks), data_kb=data_kb, listening=tuple(sorted(listening)),
        connections=tuple(sorted(set(conns), key=lambda c: (c.peer, c.peer_port, c.local_port))),
        services=tuple(x.split()[0] for x in s.get("services", []) if x.split()),
        cron=tuple(x for x in s.get("cron", []) if not x.lstrip().startswith("#")),
        mounts=tuple(mounts))


def dependency_edges(hosts: Sequence[LegacyHost],
                     surveys: Mapping[str, Survey]) -> set[frozenset[str]]:
    """Pairs of hosts that talk to each other (an established connection either way)."""
    by_address: dict[str, list[str]] = {}
    for h in hosts:
        by_address.setdefault(h.endpoint.address, []).append(h.name)
    edges: set[frozenset[str]] = set()
    for h in hosts:
        survey = surveys.get(h.name)
        if survey is None or not survey.reachable:
            continue
        for c in survey.connections:
            for other in by_address.get(c.peer, []):
                if other != h.name:
                    edges.add(frozenset({h.name, other}))
    return edges
