"""Write a clouds.yaml for the running simulator that any OpenStack client can use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from govcloud.sim.scales import PROVINCE_CLOUD
from govcloud.sim.seed import ADMIN_PROJECT, department_password
from govcloud.sim.state import Cloud

ADMIN_CLOUD = "govcloud-sim"


def cloud_entry_name(cloud: str) -> str:
    """The clouds.yaml name of a simulated cloud's admin: ``govcloud-sim`` for the
    province's, ``govcloud-sim.guangzhou`` for a city cloud's (a dot, so that it never
    meets a department's ``govcloud-sim-CODE``)."""
    return ADMIN_CLOUD if cloud == PROVINCE_CLOUD else f"{ADMIN_CLOUD}.{cloud}"


def _auth(auth_url: str, username: str, password: str, project: str | None) -> dict[str, Any]:
    auth: dict[str, Any] = {"auth_url": auth_url, "username": username, "password": password,
                            "user_domain_name": "Default"}
    if project:
        auth.update(project_name=project, project_domain_name="Default")
    return auth


def clouds_document(cloud: Cloud, *, base_url: str, admin_password: str,
                    functional: bool = False, name: str = ADMIN_CLOUD) -> dict[str, Any]:
    """The admin cloud (``name``) covering all regions, one cloud per department user, and
    optionally the devstack-named clouds openstacksdk's functional suite expects."""
    auth_url = f"{base_url}/identity"
    regions = list(cloud.regions)
    common = {"identity_api_version": 3, "interface": "public", "regions": regions}
    clouds: dict[str, Any] = {
        name: {"auth": _auth(auth_url, "admin", admin_password, ADMIN_PROJECT), **common},
    }
    for project in cloud.projects.values():
        code = project.extra.get("department")
        if code:
            clouds[f"{name}-{code}"] = {
                "auth": _auth(auth_url, f"{code}-ops", department_password(code), code),
                **common}
    if functional:
        one = {"identity_api_version": 3, "interface": "public", "region_name": regions[0]}
        clouds["devstack"] = {"auth": _auth(auth_url, "demo", "demo-secret", "demo"), **one}
        clouds["devstack-alt"] = {"auth": _auth(auth_url, "alt_demo", "alt_demo-secret",
                                                "alt_demo"), **one}
        clouds["devstack-admin"] = {"auth": _auth(auth_url, "admin", admin_password,
                                                  ADMIN_PROJECT), **one}
        sys_auth = _auth(auth_url, "admin", admin_password, None)
        sys_auth["system_scope"] = "all"
        clouds["devstack-system-admin"] = {"auth": sys_auth, **one}
    return {"clouds": clouds}


def clouds_documents(clouds: dict[str, Cloud], *, admin_password: str,
                     functional: bool = False) -> dict[str, Any]:
    """One clouds.yaml for several simulated clouds: each cloud's entries under its own
    names (``cloud_entry_name``); the devstack clouds only for the province's."""
    merged: dict[str, Any] = {}
    for key, cloud in clouds.items():
        doc = clouds_document(cloud, base_url=cloud.base_url, admin_password=admin_password,
                              functional=functional and key == PROVINCE_CLOUD,
                              name=cloud_entry_name(key))
        merged.update(doc["clouds"])
    return {"clouds": merged}


def write_clouds_yaml(path: str | os.PathLike[str], document: dict[str, Any]) -> Path:
    """Write atomically with 0600 permissions (it holds passwords)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(document, fh, sort_keys=False, allow_unicode=True)
    os.replace(tmp, target)
    return target
