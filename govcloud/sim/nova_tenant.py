"""Per-project Nova resources: quota sets, limits, keypairs, server groups."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import secrets
import struct
from typing import Any

from govcloud.sim.http import (
    Request,
    Response,
    Router,
    bad_request,
    conflict,
    forbidden,
    json_response,
    no_content,
    not_found,
)
from govcloud.sim.model import Keypair, ServerGroup, now
from govcloud.sim.nova_common import (
    NovaContext,
    additional,
    body_object,
    bool_arg,
    check_keys,
    int_field,
    invalid,
    iso_naive_us,
    limit_and_marker,
    next_link,
    policy,
    require_admin,
    require_member,
    str_field,
)
from govcloud.sim.state import UNLIMITED, RegionState

QUOTA_KEYS = ("cores", "fixed_ips", "floating_ips", "injected_file_content_bytes",
              "injected_file_path_bytes", "injected_files", "instances", "key_pairs",
              "metadata_items", "ram", "security_group_rules", "security_groups",
              "server_group_members", "server_groups")
NETWORK_QUOTAS = {"fixed_ips", "floating_ips", "security_group_rules", "security_groups"}
INJECTED_QUOTAS = {"injected_file_content_bytes", "injected_file_path_bytes",
                   "injected_files"}
LIMIT_NAMES = {
    "ram": ["maxTotalRAMSize"], "instances": ["maxTotalInstances"],
    "cores": ["maxTotalCores"], "key_pairs": ["maxTotalKeypairs"],
    "floating_ips": ["maxTotalFloatingIps"], "metadata_items": ["maxServerMeta", "maxImageMeta"],
    "injected_files": ["maxPersonality"], "injected_file_content_bytes": ["maxPersonalitySize"],
    "security_groups": ["maxSecurityGroups"], "security_group_rules": ["maxSecurityGroupRules"],
    "server_groups": ["maxServerGroups"], "server_group_members": ["maxServerGroupMembers"],
}
USED_NAMES = {"totalRAMUsed": "ram", "totalCoresUsed": "cores",
              "totalInstancesUsed": "instances", "totalFloatingIpsUsed": "floating_ips",
              "totalSecurityGroupsUsed": "security_groups",
              "totalServerGroupsUsed": "server_groups"}
_KEYPAIR_NAME = re.compile(r"^[a-zA-Z0-9 _-]+$")
_KEYPAIR_NAME_292 = re.compile(r"^[a-zA-Z0-9 @._-]+$")
_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % q for q in range(2, int(p ** 0.5) + 1))]


def quota_keys(req: Request) -> list[str]:
    keys = list(QUOTA_KEYS)
    if req.mv_at_least(2, 36):
        keys = [k for k in keys if k not in NETWORK_QUOTAS]
    if req.mv_at_least(2, 57):
        keys = [k for k in keys if k not in INJECTED_QUOTAS]
    return keys


class TenantRoutes:
    def __init__(self, api: NovaContext) -> None:
        self.api = api

    def register(self, router: Router) -> None:
        add = router.add
        c = "compute"
        add(c, "GET", "/v2.1/os-quota-sets/{project_id}/defaults", self.quota_defaults)
        add(c, "GET", "/v2.1/os-quota-sets/{project_id}/detail", self.quota_detail)
        add(c, "GET", "/v2.1/os-quota-sets/{project_id}", self.quota_show)
        add(c, "PUT", "/v2.1/os-quota-sets/{project_id}", self.quota_update)
        add(c, "DELETE", "/v2.1/os-quota-sets/{project_id}", self.quota_delete)
        add(c, "GET", "/v2.1/limits", self.limits)
        add(c, "GET", "/v2.1/os-keypairs", self.kp_index)
        add(c, "POST", "/v2.1/os-keypairs", self.kp_create)
        add(c, "GET", "/v2.1/os-keypairs/{name}", self.kp_show)
        add(c, "DELETE", "/v2.1/os-keypairs/{name}", self.kp_delete)
        add(c, "GET", "/v2.1/os-server-groups", self.sg_index)
        add(c, "POST", "/v2.1/os-server-groups", self.sg_create)
        add(c, "GET", "/v2.1/os-server-groups/{group_id}", self.sg_show)
        add(c, "DELETE", "/v2.1/os-server-groups/{group_id}", self.sg_delete)

    # --- quota sets ------------------------------------------------------------------------

    def _project(self, req: Request, project_id: str, rule: str) -> None:
        if not req.auth.is_admin and req.auth.project_id != project_id:
            raise policy(f"os_compute_api:os-quota-sets:{rule}")
        if project_id not in self.api.cloud.projects:
            raise bad_request(f"Project ID {project_id} is not a valid project.")

    @staticmethod
    def _in_use(region: RegionState, project_id: str, user_id: str | None) -> dict[str, int]:
        u = region.usage.get(project_id)
        used = dict.fromkeys(QUOTA_KEYS, 0)
        if u is not None:
            used.update(instances=u.instances, cores=u.cores, ram=u.ram)
        used["server_groups"] = sum(1 for g in region.server_groups.values()
                                    if g.project_id == project_id)
        if user_id:
            used["key_pairs"] = sum(1 for (uid, _) in region.keypairs if uid == user_id)
        return used

    def _quota_body(self, req: Request, region: RegionState, project_id: str, *,
                    detail: bool, with_id: bool = True) -> dict[str, Any]:
        quota = region.compute_quota(project_id)
        body: dict[str, Any] = {"id": project_id} if with_id else {}
        if detail:
            used = self._in_use(region, project_id, req.arg("user_id"))
            for k in quota_keys(req):
                body[k] = {"in_use": used[k], "limit": quota[k], "reserved": 0}
        else:
            for k in quota_keys(req):
                body[k] = quota[k]
        return {"quota_set": body}

    def quota_show(self, req: Request, project_id: str) -> Response:
        region = self.api.region(req)
        self._project(req, project_id, "show")
        return json_response(self._quota_body(req, region, project_id, detail=False))

    def quota_detail(self, req: Request, project_id: str) -> Response:
        region = self.api.region(req)
        self._project(req, project_id, "detail")
        return json_response(self._quota_body(req, region, project_id, detail=True))

    def quota_defaults(self, req: Request, project_id: str) -> Response:
        region = self.api.region(req)
        if project_id not in self.api.cloud.projects:
            raise bad_request(f"Project ID {project_id} is not a valid project.")
        d = region.compute_quota_defaults
        body = {"id": project_id, **{k: d[k] for k in quota_keys(req)}}
        return json_response({"quota_set": body})

    def quota_update(self, req: Request, project_id: str) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-quota-sets:update")
        doc = body_object(req, "quota_set")
        keys = quota_keys(req)
        check_keys(doc, {*keys, "force"})
        force = doc.get("force", False)
        if isinstance(force, str):
            force = force.lower() in ("1", "true", "yes", "on", "t", "y")
        if not isinstance(force, bool):
            raise invalid("force", force, f"{force!r} is not of type 'boolean', 'string'")
        values: dict[str, int] = {}
        for k in keys:
            v = int_field(doc, k, minimum=-1, maximum=0x7FFFFFFF)
            if v is not None:
                values[k] = v
        if project_id not in self.api.cloud.projects:
            raise bad_request(f"Project ID {project_id} is not a valid project.")
        if not force:
            used = self._in_use(region, project_id, None)
            for k, v in values.items():
                if v != UNLIMITED and v < used[k]:
                    raise bad_request(f"Quota limit {v} for {k} must be greater than or "
                                      f"equal to already used and reserved {used[k]}.")
        region.compute_quotas.setdefault(project_id, {}).update(values)
        return json_response(self._quota_body(req, region, project_id, detail=False,
                                              with_id=False))

    def quota_delete(self, req: Request, project_id: str) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-quota-sets:delete")
        if project_id not in self.api.cloud.projects:
            raise bad_request(f"Project ID {project_id} is not a valid project.")
        region.compute_quotas.pop(project_id, None)
        return Response(status=202)

    # --- limits ----------------------------------------------------------------------------

    def limits(self, req: Request) -> Response:
        region = self.api.region(req)
        if req.mv_at_least(2, 75):
            extra = set(req.query) - {"tenant_id", "reserved"}
            if extra:
                raise additional(extra)
        project_id = req.auth.project_id or ""
        if "tenant_id" in req.query:
            project_id = req.arg("tenant_id") or ""
            if not req.auth.is_admin:
                raise policy("os_compute_api:limits:other_project")
        filtered: set[str] = set()
        if req.mv_at_least(2, 36):
            filtered |= NETWORK_QUOTAS
        if req.mv_at_least(2, 57):
            filtered |= {"injected_files", "injected_file_content_bytes"}
        quota = region.compute_quota(project_id)
        absolute: dict[str, int] = {}
        for k, names in LIMIT_NAMES.items():
            if k in filtered:
                continue
            for n in names:
                absolute[n] = quota[k]
        used = self._in_use(region, project_id, None)
        for n, k in USED_NAMES.items():
            if k in filtered:
                continue
            absolute[n] = used[k]
        return json_response({"limits": {"absolute": absolute, "rate": []}})

    # --- keypairs --------------------------------------------------------------------------

    def _kp_user(self, req: Request, rule: str) -> str:
        user_id = req.arg("user_id") if req.mv_at_least(2, 10) else None
        if user_id and user_id != req.auth.user_id and not req.auth.is_admin:
            raise policy(f"os_compute_api:os-keypairs:{rule}")
        return user_id or req.auth.user_id

    def _kp_view(self, req: Request, kp: Keypair, *, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"name": kp.name, "public_key": kp.public_key,
                               "fingerprint": kp.fingerprint}
        if req.mv_at_least(2, 2):
            out["type"] = kp.type
        if full:
            out.update({"user_id": kp.user_id, "id": kp.id, "deleted": False,
                        "deleted_at": None, "updated_at": None,
                        "created_at": iso_naive_us(kp.created_at)})
        return out

    def kp_index(self, req: Request) -> Response:
        region = self.api.region(req)
        user_id = self._kp_user(req, "index")
        kps = sorted((kp for (uid, _), kp in region.keypairs.items() if uid == user_id),
                     key=lambda k: k.id)
        body: dict[str, Any] = {}
        if req.mv_at_least(2, 35):
            limit, marker = limit_and_marker(req)
            if marker is not None:
                names = [k.name for k in kps]
                if marker not in names:
                    raise bad_request(f"marker [{marker}] not found")
                kps = kps[names.index(marker) + 1:]
            kps = kps[:limit]
            if kps and "limit" in req.query and len(kps) >= limit:
                body["keypairs_links"] = [next_link(req, "os-keypairs", kps[-1].name)]
        body = {"keypairs": [{"keypair": self._kp_view(req, k, full=False)} for k in kps],
                **body}
        return json_response(body)

    def _kp(self, region: RegionState, user_id: str, name: str) -> Keypair:
        kp = region.keypairs.get((user_id, name))
        if kp is None:
            raise not_found(f"Keypair {name} not found for user {user_id}")
        return kp

    def kp_show(self, req: Request, name: str) -> Response:
        region = self.api.region(req)
        user_id = self._kp_user(req, "show")
        return json_response({"keypair": self._kp_view(req, self._kp(region, user_id, name),
                                                       full=True)})

    def kp_delete(self, req: Request, name: str) -> Response:
        region = self.api.region(req)
        user_id = self._kp_user(req, "delete")
        self._kp(region, user_id, name)
        del region.keypairs[(user_id, name)]
        return Response(status=204 if req.mv_at_least(2, 2) else 202)

    def kp_create(self, req: Request) -> Response:
        region = self.api.region(req)
        doc = body_object(req, "keypair")
        allowed = {"name", "public_key"}
        if req.mv_at_least(2, 2):
            allowed.add("type")
        if req.mv_at_least(2, 10):
            allowed.add("user_id")
        check_keys(doc, allowed)
        name = str_field(doc, "name", required=True, min_len=1)
        assert name is not None
        mv292 = req.mv_at_least(2, 92)
        if not (_KEYPAIR_NAME_292 if mv292 else _KEYPAIR_NAME).match(name):
            fmt = "keypair_name_292" if mv292 else "keypair_name_20"
            raise invalid("name", name, f"'{name}' is not a '{fmt}'")
        kind = doc.get("type", "ssh")
        if kind not in ("ssh", "x509"):
            raise invalid("type", kind, f"'{kind}' is not one of ['ssh', 'x509']")
        public_key = str_field(doc, "public_key", max_len=65535)
        if public_key is None and mv292:
            raise invalid("keypair", doc, "'public_key' is a required property")
        user_id = doc.get("user_id") or req.auth.user_id
        if not isinstance(user_id, str):
            raise invalid("user_id", user_id, f"{user_id!r} is not of type 'string'")
        if user_id != req.auth.user_id and not req.auth.is_admin:
            raise policy("os_compute_api:os-keypairs:create")
        quota = region.compute_quota(req.auth.project_id or "")["key_pairs"]
        owned = sum(1 for (uid, _) in region.keypairs if uid == user_id)
        if quota != UNLIMITED and owned >= quota:
            raise forbidden("Quota exceeded, too many key pairs.")
        if (user_id, name) in region.keypairs:
            raise conflict(f"Key pair '{name}' already exists.")
        private_key = None
        if public_key is None:
            public_key, private_key = generate_ssh_rsa()
        fingerprint = fingerprint_of(public_key, kind)
        region.keypair_seq += 1
        kp = Keypair(name=name, user_id=user_id, public_key=public_key,
                     fingerprint=fingerprint, type=kind, created_at=now(),
                     id=region.keypair_seq)
        region.keypairs[(user_id, name)] = kp
        out = self._kp_view(req, kp, full=False)
        out["user_id"] = user_id
        if private_key is not None:
            out["private_key"] = private_key
        return json_response({"keypair": out}, status=201 if req.mv_at_least(2, 2) else 200)

    # --- server groups ---------------------------------------------------------------------

    def _sg_view(self, req: Request, g: ServerGroup) -> dict[str, Any]:
        out: dict[str, Any] = {"id": g.id, "name": g.name}
        if req.mv_at_least(2, 64):
            out["policy"] = g.policy
            out["rules"] = dict(g.rules)
        else:
            out["policies"] = [g.policy]
            out["metadata"] = {}
        out["members"] = list(g.members)
        if req.mv_at_least(2, 13):
            out["project_id"] = g.project_id
            out["user_id"] = g.user_id
        return out

    def _sg(self, req: Request, region: RegionState, group_id: str) -> ServerGroup:
        g = region.server_groups.get(group_id)
        if g is None or not (req.auth.is_admin or g.project_id == req.auth.project_id):
            raise not_found(f"Instance group {group_id} could not be found.")
        return g

    def sg_index(self, req: Request) -> Response:
        region = self.api.region(req)
        all_projects = req.auth.is_admin and bool(bool_arg(req, "all_projects", False))
        groups = [g for g in region.server_groups.values()
                  if all_projects or g.project_id == req.auth.project_id]
        offset = req.int_arg("offset", 0) or 0
        limit = req.int_arg("limit")
        groups = groups[offset:]
        if limit is not None:
            groups = groups[:limit]
        return json_response({"server_groups": [self._sg_view(req, g) for g in groups]})

    def sg_show(self, req: Request, group_id: str) -> Response:
        region = self.api.region(req)
        return json_response({"server_group": self._sg_view(
            req, self._sg(req, region, group_id))})

    def sg_delete(self, req: Request, group_id: str) -> Response:
        region = self.api.region(req)
        g = self._sg(req, region, group_id)
        require_member(req, "os_compute_api:os-server-groups:delete")
        del region.server_groups[g.id]
        for sid in g.members:
            s = region.servers.get(sid)
            if s is not None and s.server_group_id == g.id:
                s.server_group_id = None
        return no_content()

    def sg_create(self, req: Request) -> Response:
        region = self.api.region(req)
        require_member(req, "os_compute_api:os-server-groups:create")
        doc = body_object(req, "server_group")
        allowed_policies = ["anti-affinity", "affinity"]
        if req.mv_at_least(2, 15):
            allowed_policies += ["soft-anti-affinity", "soft-affinity"]
        rules: dict[str, Any] = {}
        if req.mv_at_least(2, 64):
            check_keys(doc, {"name", "policy", "rules"})
            name = str_field(doc, "name", required=True, min_len=1)
            pol = doc.get("policy")
            if pol is None:
                raise invalid("server_group", doc, "'policy' is a required property")
            if pol not in allowed_policies:
                raise invalid("policy", pol, f"'{pol}' is not one of {allowed_policies}")
            raw_rules = doc.get("rules", {})
            if not isinstance(raw_rules, dict):
                raise invalid("rules", raw_rules, f"{raw_rules!r} is not of type 'object'")
            check_keys(raw_rules, {"max_server_per_host"})
            if raw_rules:
                if pol != "anti-affinity":
                    raise bad_request("Only anti-affinity policy supports rules.")
                rules["max_server_per_host"] = int_field(raw_rules, "max_server_per_host",
                                                         minimum=1)
        else:
            check_keys(doc, {"name", "policies"})
            name = str_field(doc, "name", required=True, min_len=1)
            pols = doc.get("policies")
            if pols is None:
                raise invalid("server_group", doc, "'policies' is a required property")
            if not isinstance(pols, list) or len(pols) != 1:
                raise invalid("policies", pols, f"{pols!r} is not valid under any of the "
                                                "given schemas")
            pol = pols[0]
            if pol not in allowed_policies:
                raise invalid("policies", pols, f"'{pol}' is not one of {allowed_policies}")
        project_id = req.auth.project_id or ""
        quota = region.compute_quota(project_id)["server_groups"]
        count = sum(1 for g in region.server_groups.values() if g.project_id == project_id)
        if quota != UNLIMITED and count >= quota:
            raise forbidden("Quota exceeded, too many server groups.")
        g = ServerGroup(id=region.ids.uuid(), name=name or "", policy=pol,
                        project_id=project_id, user_id=req.auth.user_id, rules=rules)
        region.server_groups[g.id] = g
        return json_response({"server_group": self._sg_view(req, g)})


# --- keys ------------------------------------------------------------------------------------

def fingerprint_of(public_key: str, kind: str = "ssh") -> str:
    try:
        if kind == "x509":
            body = "".join(line for line in public_key.strip().splitlines()
                           if not line.startswith("-----"))
            der = base64.b64decode(body, validate=True)
            digest = hashlib.sha1(der).hexdigest()  # noqa: S324 - what nova shows
        else:
            parts = public_key.strip().split()
            if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
                raise ValueError(public_key)
            blob = base64.b64decode(parts[1], validate=True)
            if not blob.startswith(struct.pack(">I", len(parts[0])) + parts[0].encode()):
                raise ValueError(public_key)
            digest = hashlib.md5(blob).hexdigest()  # noqa: S324 - the ssh legacy fingerprint
    except (ValueError, binascii.Error):
        raise bad_request("Keypair data is invalid: failed to generate fingerprint") from None
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _is_probable_prime(n: int, rounds: int = 24) -> bool:
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(rounds):
        a = secrets.randbelow(n - 3) + 2
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int) -> int:
    while True:
        c = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if any(c % p == 0 for p in _SMALL_PRIMES):
            continue
        if _is_probable_prime(c):
            return c


def _der_int(v: int) -> bytes:
    raw = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
    return b"\x02" + _der_len(len(raw)) + raw


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _mpint(v: int) -> bytes:
    raw = v.to_bytes((v.bit_length() + 8) // 8, "big")
    return struct.pack(">I", len(raw)) + raw


def generate_ssh_rsa(bits: int = 2048) -> tuple[str, str]:
    """A real RSA key pair: (OpenSSH public key, PKCS#1 PEM private key), like Nova's."""
    e = 65537
    while True:
        p, q = _prime(bits // 2), _prime(bits // 2)
        n = p * q
        phi = (p - 1) * (q - 1)
        if p != q and n.bit_length() == bits and math.gcd(e, phi) == 1:
            break
    d = pow(e, -1, phi)
    seq = b"".join(_der_int(x) for x in (0, n, e, d, p, q, d % (p - 1), d % (q - 1),
                                         pow(q, -1, p)))
    der = b"\x30" + _der_len(len(seq)) + seq
    b64 = base64.b64encode(der).decode()
    pem = ("-----BEGIN RSA PRIVATE KEY-----\n"
           + "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
           + "\n-----END RSA PRIVATE KEY-----\n")
    blob = struct.pack(">I", 7) + b"ssh-rsa" + _mpint(e) + _mpint(n)
    public = f"ssh-rsa {base64.b64encode(blob).decode()} Generated-by-Nova"
    return public, pem
