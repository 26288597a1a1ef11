"""What the provisioning services' unit tests share: a stored PROD snapshot small enough to
reason about (``seed``), a context over it with the real department catalogue and a
production-only DR policy (``context``), a request body (``one_server``), the principals, and
the cores each site's reservation ledger holds once it is checked against the reservations
(``reserved_cores``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from govcloud.domain.catalogue import Catalogue
from govcloud.domain.provisioning import AutoApprove, CopyKind, DrPolicy, PolicyRule
from govcloud.domain.rbac import Principal
from govcloud.domain.sites import SiteRole, default_sites
from govcloud.services.catalogue import load_catalogue
from govcloud.services.provisioning_common import ProvisioningContext, Validator
from govcloud.services.provisioning_lifecycle import ledger_check
from govcloud.store import inventory as inv
from tests.databases import Clock

TENANTS = Path(__file__).resolve().parents[3] / "tenants"
PROD_ONLY = DrPolicy((PolicyRule(1, 6, ((SiteRole.PRODUCTION, CopyKind.PRIMARY),)),))
ADMIN = Principal("boss", "bureau-admin")
OTHER_ADMIN = Principal("deputy", "bureau-admin")
OPERATOR = Principal("alice", "operator")
# alice's own bureau-admin principal: another name, the same person
ALICE_ADMIN = Principal("alice-admin", "bureau-admin", person="alice")
TAX_VIEWER = Principal("taxman", "department-viewer", department="gd-tax")


@cache
def catalogue() -> Catalogue:
    return load_catalogue(TENANTS, sites=[s.name for s in default_sites()])


def seed(engine: Engine, *, hosts: int = 4, host_vcpu: int = 16, quota_cores: int = -1) -> None:
    """PROD: ``hosts`` hosts of ``host_vcpu`` vCPU, flavor gc.c4m8 (4 vCPU), and gd-psd's
    project with a cores quota of ``quota_cores`` (−1: unlimited)."""
    with engine.begin() as conn:
        conn.execute(insert(inv.table("department_site")), [
            {"department": "gd-psd", "site": "PROD", "project_id": "p-psd",
             "project_name": "gd-psd", "city": None}])
        conn.execute(insert(inv.table("flavor")), [
            {"site": "PROD", "id": "f4", "name": "gc.c4m8", "vcpus": 4, "ram_mb": 8192,
             "disk_gb": 40, "ephemeral_gb": 0, "swap_mb": 0, "is_public": True}])
        conn.execute(insert(inv.table("quota_usage")), [
            {"site": "PROD", "project_id": "p-psd", "resource": r, "department": "gd-psd",
             "limit": lim, "in_use": 0}
            for r, lim in (("cores", quota_cores), ("ram", -1), ("instances", -1))])
        conn.execute(insert(inv.table("hypervisor")), [
            {"site": "PROD", "id": f"h{i}", "hostname": f"host-{i}", "state": "up",
             "status": "enabled", "availability_zone": "nova", "running_servers": 0,
             "vcpu_total": host_vcpu, "vcpu_reserved": 0, "vcpu_ratio": 1.0,
             "vcpu_used": 0, "ram_total": 1_000_000, "ram_reserved": 0, "ram_ratio": 1.0,
             "ram_used": 0, "disk_total": 100_000, "disk_reserved": 0, "disk_ratio": 1.0,
             "disk_used": 0} for i in range(hosts)])


def context(engine: Engine, *, auto_approve: dict[str, AutoApprove] | None = None,
            validator: Validator | None = None,
            playbooks: dict[str, Any] | None = None) -> ProvisioningContext:
    return ProvisioningContext(engine=engine, sites=default_sites(), catalogue=catalogue,
                               policy=PROD_ONLY, group_policy="soft-anti-affinity",
                               auto_approve=auto_approve or {}, validator=validator,
                               clock=Clock(), playbooks=playbooks or {})


def one_server(system: str = "app", count: int = 1, *, flavor: str = "gc.c4m8",
               department: str = "gd-psd", **extra: Any) -> dict[str, Any]:
    return {"department": department, "system": system, "justification": "test",
            "servers": [{"name_prefix": "vm", "flavor": flavor, "image": "cirros",
                         "count": count, "network": "prod-net"}], **extra}


def reserved_cores(engine: Engine) -> dict[tuple[str, str], int]:
    check = ledger_check(engine)
    assert check["matches"], check
    return {k: v.cores for k, v in check["ledger"].items()}
