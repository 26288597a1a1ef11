"""Keystone v3 identity administration: domains, projects, users, groups, roles, grants,
role assignments, regions, services and endpoints. Mixed into :class:`KeystoneAPI`.

The create/list/show/update/delete of each resource is the shared implementation in
``keystone_resources``; this module says, per resource in :data:`RESOURCES`, what differs
(its view, how a create body becomes an item, what an update sets, what a delete takes
with it), and holds the routes that are not plain CRUD (membership, grants, assignments).
"""

from __future__ import annotations

import secrets
from typing import Any

from govcloud.sim.http import (
    Request,
    Response,
    bad_request,
    conflict,
    forbidden,
    json_response,
    no_content,
    not_found,
)
from govcloud.sim.keystone_resources import (
    MERGE,
    AdminResource,
    AdminResourceHandlers,
    anyone,
    as_bool,
    as_list,
    denied,
    lookup,
    raw,
    text,
    unauthorized,
)
from govcloud.sim.model import (
    Assignment,
    CatalogService,
    Domain,
    Endpoint,
    Group,
    KRegion,
    Project,
    Role,
    User,
)
from govcloud.sim.state import Cloud

__all__ = ["RESOURCES", "IdentityAdminMixin", "as_bool", "denied", "lookup", "unauthorized"]


class IdentityAdminMixin(AdminResourceHandlers):
    cloud: Cloud

    def _domain_ref(self, domain_id: str) -> dict[str, str]:
        d = self.cloud.domains.get(domain_id)
        return {"id": domain_id, "name": d.name if d else domain_id}

    # --- what every create body needs ----------------------------------------------------------

    @staticmethod
    def _name(b: dict[str, Any], *, strip: bool = False) -> str:
        name = b.get("name")
        if not isinstance(name, str) or not (name.strip() if strip else name):
            raise bad_request("Invalid input for field 'name': a name is required.")
        return name

    def _owner_domain(self, req: Request, b: dict[str, Any]) -> str:
        """The domain a new project, user or group lands in: the body's, or the caller's."""
        domain_id = str(b.get("domain_id") or req.auth.user.domain_id)
        if domain_id not in self.cloud.domains:
            raise not_found(f"Could not find domain: {domain_id}.")
        return domain_id

    # --- domains -----------------------------------------------------------------------------

    def _domain(self, d: Domain, req: Request) -> dict[str, Any]:
        return {"id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
                "tags": d.tags, "options": d.options,
                "links": {"self": f"{req.base_url}/v3/domains/{d.id}"}}

    def _get_domain(self, key: str) -> Domain:
        return lookup(self.cloud.domains, key, "domain")

    def _build_domain(self, req: Request, b: dict[str, Any]) -> Domain:
        name = self._name(b)
        if self.cloud.domain_by_name(name):
            raise conflict(f"Conflict occurred attempting to store domain - Duplicate entry "
                           f"found with name {name}.")
        return Domain(id=self._new_id(), name=name, description=b.get("description") or "",
                      enabled=bool(b.get("enabled", True)), tags=list(b.get("tags") or []))

    def _drop_domain(self, d: Domain) -> None:
        if d.enabled:
            raise forbidden("Cannot delete a domain that is enabled, please disable it first.")
        if d.id == "default":
            raise forbidden("Cannot delete the default domain.")
        for p in [p for p in self.cloud.projects.values() if p.domain_id == d.id]:
            self._drop_project(p)
        for u in [u for u in self.cloud.users.values() if u.domain_id == d.id]:
            self._drop_user(u)
        for g in [g for g in self.cloud.groups.values() if g.domain_id == d.id]:
            self._drop_group(g)
        self.cloud.assignments = {a for a in self.cloud.assignments if a.domain_id != d.id}
        del self.cloud.domains[d.id]

    # --- projects ----------------------------------------------------------------------------

    def _project(self, p: Project, req: Request) -> dict[str, Any]:
        out = {"id": p.id, "name": p.name, "domain_id": p.domain_id,
               "description": p.description, "enabled": p.enabled, "is_domain": p.is_domain,
               "parent_id": p.parent_id or p.domain_id, "tags": p.tags, "options": p.options,
               "links": {"self": f"{req.base_url}/v3/projects/{p.id}"}}
        out.update(p.extra)
        return out

    def _get_project(self, key: str) -> Project:
        return lookup(self.cloud.projects, key, "project")

    def _build_project(self, req: Request, b: dict[str, Any]) -> Project:
        name = self._name(b, strip=True)
        domain_id = self._owner_domain(req, b)
        if self.cloud.project_by_name(name, domain_id):
            raise conflict(f"Conflict occurred attempting to store project - it is not "
                           f"permitted to have two projects with the same name in the same "
                           f"domain : {name}.")
        parent_id = b.get("parent_id")
        if parent_id and parent_id not in self.cloud.projects and parent_id != domain_id:
            raise not_found(f"Could not find project: {parent_id}.")
        known = {"name", "domain_id", "description", "enabled", "is_domain", "parent_id",
                 "tags", "options"}
        return Project(id=self._new_id(), name=name, domain_id=domain_id,
                       description=b.get("description") or "",
                       enabled=bool(b.get("enabled", True)),
                       parent_id=parent_id if parent_id != domain_id else None,
                       tags=list(b.get("tags") or []), options=dict(b.get("options") or {}),
                       extra={k: v for k, v in b.items() if k not in known})

    def _drop_project(self, p: Project) -> None:
        self.cloud.projects.pop(p.id, None)
        self.cloud.assignments = {a for a in self.cloud.assignments if a.project_id != p.id}
        for t in [t for t in self.cloud.tokens.values() if t.project_id == p.id]:
            self.cloud.tokens.pop(t.id, None)

    def user_projects(self, req: Request, id: str) -> Response:  # noqa: A002
        if not req.auth.is_admin and req.auth.user_id != id:
            raise denied("identity:list_user_projects")
        if id not in self.cloud.users:
            raise not_found(f"Could not find user: {id}.")
        projects = [p for p in self.cloud.projects.values()
                    if self.cloud.effective_role_ids(id, project_id=p.id)]
        return json_response({"projects": [self._project(p, req) for p in projects],
                              "links": self._links(req, f"/v3/users/{id}/projects")})

    # --- users -------------------------------------------------------------------------------

    def _user(self, u: User, req: Request) -> dict[str, Any]:
        out: dict[str, Any] = {"id": u.id, "name": u.name, "domain_id": u.domain_id,
                               "enabled": u.enabled, "password_expires_at": None,
                               "options": u.options,
                               "links": {"self": f"{req.base_url}/v3/users/{u.id}"}}
        if u.email is not None:
            out["email"] = u.email
        if u.description is not None:
            out["description"] = u.description
        if u.default_project_id is not None:
            out["default_project_id"] = u.default_project_id
        out.update(u.extra)
        return out

    def _get_user(self, key: str) -> User:
        return lookup(self.cloud.users, key, "user")

    def _build_user(self, req: Request, b: dict[str, Any]) -> User:
        name = self._name(b)
        domain_id = self._owner_domain(req, b)
        if self.cloud.user_by_name(name, domain_id):
            raise conflict(f"Conflict occurred attempting to store user - Duplicate entry "
                           f"found with name {name} at domain ID {domain_id}.")
        known = {"name", "domain_id", "password", "enabled", "email", "description",
                 "default_project_id", "options"}
        return User(id=self._new_id(), name=name, domain_id=domain_id,
                    password=str(b.get("password") or ""), enabled=bool(b.get("enabled", True)),
                    email=b.get("email"), description=b.get("description"),
                    default_project_id=b.get("default_project_id"),
                    options=dict(b.get("options") or {}),
                    extra={k: v for k, v in b.items() if k not in known})

    def _drop_user(self, u: User) -> None:
        self.cloud.users.pop(u.id, None)
        self.cloud.assignments = {a for a in self.cloud.assignments if a.user_id != u.id}
        for g in self.cloud.groups.values():
            g.members.discard(u.id)
        for t in [t for t in self.cloud.tokens.values() if t.user_id == u.id]:
            self.cloud.tokens.pop(t.id, None)

    def change_password(self, req: Request, id: str) -> Response:  # noqa: A002
        u = self._get_user(id)
        if req.auth.user_id != id:
            raise denied("identity:change_password")
        b = self._body(req, "user")
        if not secrets.compare_digest(u.password, str(b.get("original_password", ""))):
            raise unauthorized("Error when changing user password: the original password "
                                "is incorrect.")
        u.password = str(b.get("password") or "")
        return no_content()

    def user_groups(self, req: Request, id: str) -> Response:  # noqa: A002
        if not req.auth.is_admin and req.auth.user_id != id:
            raise denied("identity:list_groups_for_user")
        self._get_user(id)
        groups = [g for g in self.cloud.groups.values() if id in g.members]
        return json_response({"groups": [self._group(g, req) for g in groups],
                              "links": self._links(req, f"/v3/users/{id}/groups")})

    # --- groups ------------------------------------------------------------------------------

    def _group(self, g: Group, req: Request) -> dict[str, Any]:
        return {"id": g.id, "name": g.name, "domain_id": g.domain_id,
                "description": g.description,
                "links": {"self": f"{req.base_url}/v3/groups/{g.id}"}}

    def _get_group(self, key: str) -> Group:
        return lookup(self.cloud.groups, key, "group")

    def _build_group(self, req: Request, b: dict[str, Any]) -> Group:
        name = self._name(b)
        domain_id = self._owner_domain(req, b)
        if any(g.name == name and g.domain_id == domain_id for g in self.cloud.groups.values()):
            raise conflict(f"Conflict occurred attempting to store group - Duplicate entry "
                           f"found with name {name}.")
        return Group(id=self._new_id(), name=name, domain_id=domain_id,
                     description=b.get("description") or "")

    def _drop_group(self, g: Group) -> None:
        self.cloud.groups.pop(g.id, None)
        self.cloud.assignments = {a for a in self.cloud.assignments if a.group_id != g.id}

    def group_users(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:list_users_in_group")
        g = self._get_group(id)
        users = [self.cloud.users[u] for u in sorted(g.members) if u in self.cloud.users]
        return json_response({"users": [self._user(u, req) for u in users],
                              "links": self._links(req, f"/v3/groups/{id}/users")})

    def add_group_user(self, req: Request, id: str, user_id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:add_user_to_group")
        g = self._get_group(id)
        self._get_user(user_id)
        g.members.add(user_id)
        return no_content()

    def check_group_user(self, req: Request, id: str, user_id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:check_user_in_group")
        g = self._get_group(id)
        self._get_user(user_id)
        if user_id not in g.members:
            raise not_found(f"User {user_id} is not a member of group {id}.")
        return no_content()

    def remove_group_user(self, req: Request, id: str, user_id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:remove_user_from_group")
        g = self._get_group(id)
        self._get_user(user_id)
        if user_id not in g.members:
            raise not_found(f"User {user_id} is not a member of group {id}.")
        g.members.discard(user_id)
        return no_content()

    # --- roles -------------------------------------------------------------------------------

    def _role(self, r: Role, req: Request) -> dict[str, Any]:
        return {"id": r.id, "name": r.name, "domain_id": r.domain_id,
                "description": r.description, "options": r.options,
                "links": {"self": f"{req.base_url}/v3/roles/{r.id}"}}

    def _get_role(self, key: str) -> Role:
        return lookup(self.cloud.roles, key, "role")

    def _build_role(self, req: Request, b: dict[str, Any]) -> Role:
        name = self._name(b)
        if any(r.name == name and r.domain_id == b.get("domain_id")
               for r in self.cloud.roles.values()):
            raise conflict(f"Conflict occurred attempting to store role - Duplicate entry "
                           f"found with name {name}.")
        return Role(id=self._new_id(), name=name, domain_id=b.get("domain_id"),
                    description=b.get("description"), options=dict(b.get("options") or {}))

    def _drop_role(self, r: Role) -> None:
        del self.cloud.roles[r.id]
        self.cloud.assignments = {a for a in self.cloud.assignments if a.role_id != r.id}

    def _assignment(self, target: str, actor: str, target_id: str, actor_id: str,
                    role_id: str) -> Assignment:
        if target == "projects":
            self._get_project(target_id)
        elif target == "domains":
            self._get_domain(target_id)
        if actor == "users":
            self._get_user(actor_id)
        else:
            self._get_group(actor_id)
        self._get_role(role_id)
        return Assignment(
            role_id=role_id,
            user_id=actor_id if actor == "users" else None,
            group_id=actor_id if actor == "groups" else None,
            project_id=target_id if target == "projects" else None,
            domain_id=target_id if target == "domains" else None,
            system="all" if target == "system" else None)

    def _role_list(self, target: str, actor: str, fixed: str | None = None) -> Any:
        def handler(req: Request, actor_id: str, target_id: str | None = None) -> Response:
            self._require_admin(req, "identity:list_grants")
            tid = target_id or fixed or ""
            if target == "projects":
                self._get_project(tid)
            elif target == "domains":
                self._get_domain(tid)
            roles = []
            for a in self.cloud.assignments:
                probe = self._assignment(target, actor, tid, actor_id, a.role_id)
                if probe == a and a.role_id in self.cloud.roles:
                    roles.append(self.cloud.roles[a.role_id])
            return json_response({"roles": [self._role(r, req) for r in roles],
                                  "links": self._links(req, req.path)})
        return handler

    def _role_grant(self, target: str, actor: str, fixed: str | None = None) -> Any:
        def handler(req: Request, actor_id: str, role_id: str,
                    target_id: str | None = None) -> Response:
            self._require_admin(req, "identity:create_grant")
            a = self._assignment(target, actor, target_id or fixed or "", actor_id, role_id)
            self.cloud.assignments.add(a)
            return no_content()
        return handler

    def _role_check(self, target: str, actor: str, fixed: str | None = None) -> Any:
        def handler(req: Request, actor_id: str, role_id: str,
                    target_id: str | None = None) -> Response:
            self._require_admin(req, "identity:check_grant")
            a = self._assignment(target, actor, target_id or fixed or "", actor_id, role_id)
            if a not in self.cloud.assignments:
                raise not_found(f"Could not find role assignment with role: {role_id}.")
            return no_content()
        return handler

    def _role_revoke(self, target: str, actor: str, fixed: str | None = None) -> Any:
        def handler(req: Request, actor_id: str, role_id: str,
                    target_id: str | None = None) -> Response:
            self._require_admin(req, "identity:revoke_grant")
            a = self._assignment(target, actor, target_id or fixed or "", actor_id, role_id)
            if a not in self.cloud.assignments:
                raise not_found(f"Could not find role assignment with role: {role_id}.")
            self.cloud.assignments.discard(a)
            return no_content()
        return handler

    def role_assignments(self, req: Request) -> Response:
        if not req.auth.is_admin:
            uid = req.arg("user.id")
            if uid != req.auth.user_id:
                raise denied("identity:list_role_assignments")
        effective = req.arg("effective") is not None
        include_names = as_bool(req.arg("include_names")) or False
        rows: list[Assignment] = list(self.cloud.assignments)
        if effective:
            expanded: list[Assignment] = []
            for a in rows:
                if a.group_id and a.group_id in self.cloud.groups:
                    for uid in self.cloud.groups[a.group_id].members:
                        expanded.append(Assignment(role_id=a.role_id, user_id=uid,
                                                   project_id=a.project_id,
                                                   domain_id=a.domain_id, system=a.system))
                elif a.user_id:
                    expanded.append(a)
            rows = expanded
        filters = {
            "user.id": lambda a, v: a.user_id == v,
            "group.id": lambda a, v: a.group_id == v,
            "role.id": lambda a, v: a.role_id == v,
            "scope.project.id": lambda a, v: a.project_id == v,
            "scope.domain.id": lambda a, v: a.domain_id == v,
            "scope.system": lambda a, v: a.system is not None,
        }
        for key, test in filters.items():
            v = req.arg(key)
            if v is not None:
                rows = [a for a in rows if test(a, v)]
        out = []
        for a in sorted(rows, key=lambda a: (a.role_id, a.user_id or "", a.group_id or "")):
            item: dict[str, Any] = {"role": {"id": a.role_id}, "links": {
                "assignment": f"{req.base_url}/v3/role_assignments"}}
            if a.user_id:
                item["user"] = {"id": a.user_id}
            if a.group_id:
                item["group"] = {"id": a.group_id}
            if a.project_id:
                item["scope"] = {"project": {"id": a.project_id}}
            elif a.domain_id:
                item["scope"] = {"domain": {"id": a.domain_id}}
            elif a.system:
                item["scope"] = {"system": {"all": True}}
            if a.inherited and "scope" in item:
                item["scope"]["OS-INHERIT:inherited_to"] = "projects"
            if include_names:
                self._add_names(item)
            out.append(item)
        return json_response({"role_assignments": out,
                              "links": self._links(req, "/v3/role_assignments")})

    def _add_names(self, item: dict[str, Any]) -> None:
        role = self.cloud.roles.get(item["role"]["id"])
        if role:
            item["role"]["name"] = role.name
        if "user" in item and item["user"]["id"] in self.cloud.users:
            u = self.cloud.users[item["user"]["id"]]
            item["user"].update(name=u.name, domain=self._domain_ref(u.domain_id))
        if "group" in item and item["group"]["id"] in self.cloud.groups:
            g = self.cloud.groups[item["group"]["id"]]
            item["group"].update(name=g.name, domain=self._domain_ref(g.domain_id))
        if role and role.domain_id:
            item["role"]["domain"] = self._domain_ref(role.domain_id)
        # every scope carries its name, as Keystone's include_names gives them
        # (openstackclient's `role assignment list --names` reads each one)
        scope = item.get("scope", {})
        if "project" in scope and scope["project"]["id"] in self.cloud.projects:
            p = self.cloud.projects[scope["project"]["id"]]
            scope["project"].update(name=p.name, domain=self._domain_ref(p.domain_id))
        if "domain" in scope:
            scope["domain"]["name"] = self._domain_ref(scope["domain"]["id"])["name"]

    # --- regions, services, endpoints ----------------------------------------------------------

    def _region(self, r: KRegion, req: Request) -> dict[str, Any]:
        return {"id": r.id, "description": r.description,
                "parent_region_id": r.parent_region_id,
                "links": {"self": f"{req.base_url}/v3/regions/{r.id}"}}

    def _build_region(self, req: Request, b: dict[str, Any]) -> KRegion:
        rid = str(b.get("id") or self._new_id())
        if rid in self.cloud.kregions:
            raise conflict(f"Duplicate ID, {rid}.")
        return KRegion(id=rid, description=b.get("description") or "",
                       parent_region_id=b.get("parent_region_id"))

    def _drop_region(self, r: KRegion) -> None:
        if r.id in self.cloud.regions:
            raise forbidden(f"Region {r.id} is served by this simulator and cannot be deleted.")
        del self.cloud.kregions[r.id]

    def _service(self, s: CatalogService, req: Request) -> dict[str, Any]:
        return {"id": s.id, "type": s.type, "name": s.name, "enabled": s.enabled,
                "description": s.description,
                "links": {"self": f"{req.base_url}/v3/services/{s.id}"}}

    def _build_service(self, req: Request, b: dict[str, Any]) -> CatalogService:
        if not b.get("type"):
            raise bad_request("Invalid input for field 'type': a type is required.")
        return CatalogService(id=self._new_id(), type=str(b["type"]),
                              name=str(b.get("name") or ""),
                              enabled=bool(b.get("enabled", True)),
                              description=b.get("description") or "")

    def _drop_service(self, s: CatalogService) -> None:
        del self.cloud.catalog_services[s.id]
        for eid in [e.id for e in self.cloud.endpoints.values() if e.service_id == s.id]:
            del self.cloud.endpoints[eid]

    def _endpoint(self, e: Endpoint, req: Request) -> dict[str, Any]:
        return {"id": e.id, "service_id": e.service_id, "interface": e.interface,
                "region_id": e.region_id, "region": e.region_id, "url": e.url,
                "enabled": e.enabled, "links": {"self": f"{req.base_url}/v3/endpoints/{e.id}"}}

    def _build_endpoint(self, req: Request, b: dict[str, Any]) -> Endpoint:
        if b.get("interface") not in ("public", "internal", "admin"):
            raise bad_request("Invalid input for field 'interface': must be one of public, "
                              "internal, admin.")
        if not b.get("url"):
            raise bad_request("Invalid input for field 'url': a url is required.")
        lookup(self.cloud.catalog_services, str(b.get("service_id")), "service")
        return Endpoint(id=self._new_id(), service_id=str(b["service_id"]),
                        interface=str(b["interface"]),
                        region_id=b.get("region_id") or b.get("region"), url=str(b["url"]),
                        enabled=bool(b.get("enabled", True)))


def _tagged(items: list[Project], req: Request) -> list[Project]:
    """``?tags=a,b``: projects carrying every one of the tags."""
    if req.arg("tags"):
        want = set((req.arg("tags") or "").split(","))
        items = [p for p in items if want <= set(p.tags)]
    return items


_M = IdentityAdminMixin

RESOURCES: tuple[AdminResource, ...] = (
    AdminResource(
        "domains", "domain", lambda c: c.domains, _M._domain, _M._build_domain,
        {"name": str, "description": text, "enabled": bool, "tags": as_list},
        filters=("name", "enabled"),
        may_show=lambda auth, key: auth.is_admin or auth.user.domain_id == key,
        show_looks_up_first=True, same_name=lambda c, name, d: c.domain_by_name(name),
        drop=_M._drop_domain),
    AdminResource(
        "projects", "project", lambda c: c.projects, _M._project, _M._build_project,
        {"name": str, "description": text, "enabled": bool, "tags": as_list,
         "options": MERGE},
        filters=("name", "domain_id", "enabled", "parent_id"), narrow=_tagged,
        may_show=lambda auth, key: auth.is_admin or auth.project_id == key,
        show_looks_up_first=True,
        same_name=lambda c, name, p: c.project_by_name(name, p.domain_id),
        fixed_domain=True, extra=True, drop=_M._drop_project),
    AdminResource(
        "users", "user", lambda c: c.users, _M._user, _M._build_user,
        {"name": str, "email": raw, "description": raw, "default_project_id": raw,
         "enabled": bool, "password": lambda v: str(v or ""), "options": MERGE},
        filters=("name", "domain_id", "enabled"),
        may_show=lambda auth, key: auth.is_admin or auth.user_id == key,
        same_name=lambda c, name, u: c.user_by_name(name, u.domain_id),
        extra=True, drop=_M._drop_user),
    AdminResource(
        "groups", "group", lambda c: c.groups, _M._group, _M._build_group,
        {"name": str, "description": text}, drop=_M._drop_group),
    AdminResource(
        "roles", "role", lambda c: c.roles, _M._role, _M._build_role,
        {"name": str, "description": raw},
        may_list=lambda auth: auth.is_admin or "reader" in auth.roles, may_show=anyone,
        drop=_M._drop_role),
    AdminResource(
        "regions", "region", lambda c: c.kregions, _M._region, _M._build_region,
        {"description": text}, filters=(), may_list=lambda auth: True, may_show=anyone,
        drop=_M._drop_region),
    AdminResource(
        "services", "service", lambda c: c.catalog_services, _M._service, _M._build_service,
        {"type": text, "name": text, "description": text, "enabled": bool},
        filters=("type", "name"), drop=_M._drop_service),
    AdminResource(
        "endpoints", "endpoint", lambda c: c.endpoints, _M._endpoint, _M._build_endpoint,
        {"interface": raw, "url": raw, "region_id": raw, "service_id": raw, "enabled": bool},
        filters=("service_id", "interface", "region_id")),
)
