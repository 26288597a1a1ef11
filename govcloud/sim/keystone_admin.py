"""Keystone v3 identity administration: domains, projects, users, groups, roles, grants,
role assignments, regions, services and endpoints. Mixed into :class:`KeystoneAPI`."""

from __future__ import annotations

import secrets
import uuid
from typing import Any, TypeVar

from govcloud.sim.http import (
    ApiError,
    Request,
    Response,
    bad_request,
    conflict,
    forbidden,
    json_response,
    no_content,
    not_found,
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

T = TypeVar("T")


def denied(action: str) -> ApiError:
    return forbidden(f"You are not authorized to perform the requested action: {action}.")


def unauthorized(message: str = "The request you have made requires authentication.") -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": 'Keystone uri="/identity"'})


def as_bool(raw: str | None) -> bool | None:
    if raw is None:
        return None
    return raw.lower() in ("1", "true", "yes", "")


def lookup(collection: dict[str, T], key: str, label: str) -> T:
    """Keystone's 404 for an id that isn't there."""
    item = collection.get(key)
    if item is None:
        raise not_found(f"Could not find {label}: {key}.")
    return item


class IdentityAdminMixin:
    cloud: Cloud

    def _domain_ref(self, domain_id: str) -> dict[str, str]:
        d = self.cloud.domains.get(domain_id)
        return {"id": domain_id, "name": d.name if d else domain_id}

    # --- helpers ----------------------------------------------------------------------------

    def _links(self, req: Request, path: str) -> dict[str, Any]:
        return {"self": req.base_url + path, "previous": None, "next": None}

    def _require_admin(self, req: Request, action: str) -> None:
        if not req.auth.is_admin:
            raise denied(action)

    def _filter(self, items: list[Any], req: Request, *fields: str) -> list[Any]:
        for f in fields:
            raw = req.arg(f)
            if raw is None:
                continue
            if f == "enabled":
                want = as_bool(raw)
                items = [i for i in items if i.enabled == want]
            else:
                items = [i for i in items if str(getattr(i, f, None)) == raw]
        return items

    def _body(self, req: Request, key: str) -> dict[str, Any]:
        return req.json_object(key)

    @staticmethod
    def _new_id() -> str:
        return uuid.uuid4().hex

    # --- domains -----------------------------------------------------------------------------

    def _domain(self, d: Domain, req: Request) -> dict[str, Any]:
        return {"id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
                "tags": d.tags, "options": d.options,
                "links": {"self": f"{req.base_url}/v3/domains/{d.id}"}}

    def _get_domain(self, key: str) -> Domain:
        return lookup(self.cloud.domains, key, "domain")

    def list_domains(self, req: Request) -> Response:
        self._require_admin(req, "identity:list_domains")
        items = self._filter(list(self.cloud.domains.values()), req, "name", "enabled")
        return json_response({"domains": [self._domain(d, req) for d in items],
                              "links": self._links(req, "/v3/domains")})

    def create_domains(self, req: Request) -> Response:
        self._require_admin(req, "identity:create_domain")
        b = self._body(req, "domain")
        name = b.get("name")
        if not isinstance(name, str) or not name:
            raise bad_request("Invalid input for field 'name': a name is required.")
        if self.cloud.domain_by_name(name):
            raise conflict(f"Conflict occurred attempting to store domain - Duplicate entry "
                           f"found with name {name}.")
        d = Domain(id=self._new_id(), name=name, description=b.get("description") or "",
                   enabled=bool(b.get("enabled", True)), tags=list(b.get("tags") or []))
        self.cloud.domains[d.id] = d
        return json_response({"domain": self._domain(d, req)}, status=201)

    def get_domains(self, req: Request, id: str) -> Response:  # noqa: A002
        d = self._get_domain(id)
        if not req.auth.is_admin:
            user = req.auth.user
            if user.domain_id != d.id:
                raise denied("identity:get_domain")
        return json_response({"domain": self._domain(d, req)})

    def update_domains(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:update_domain")
        d = self._get_domain(id)
        b = self._body(req, "domain")
        if "name" in b:
            other = self.cloud.domain_by_name(str(b["name"]))
            if other and other.id != d.id:
                raise conflict(f"Duplicate entry found with name {b['name']}.")
            d.name = str(b["name"])
        if "description" in b:
            d.description = b["description"] or ""
        if "enabled" in b:
            d.enabled = bool(b["enabled"])
        if "tags" in b:
            d.tags = list(b["tags"] or [])
        return json_response({"domain": self._domain(d, req)})

    def delete_domains(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:delete_domain")
        d = self._get_domain(id)
        if d.enabled:
            raise forbidden("Cannot delete a domain that is enabled, please disable it first.")
        if d.id == "default":
            raise forbidden("Cannot delete the default domain.")
        for p in [p for p in self.cloud.projects.values() if p.domain_id == d.id]:
            self._drop_project(p.id)
        for u in [u for u in self.cloud.users.values() if u.domain_id == d.id]:
            self._drop_user(u.id)
        for g in [g for g in self.cloud.groups.values() if g.domain_id == d.id]:
            self._drop_group(g.id)
        self.cloud.assignments = {a for a in self.cloud.assignments if a.domain_id != d.id}
        del self.cloud.domains[d.id]
        return no_content()

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

    def list_projects(self, req: Request) -> Response:
        self._require_admin(req, "identity:list_projects")
        items = self._filter(list(self.cloud.projects.values()), req, "name", "domain_id",
                             "enabled", "parent_id")
        if req.arg("tags"):
            want = set((req.arg("tags") or "").split(","))
            items = [p for p in items if want <= set(p.tags)]
        return json_response({"projects": [self._project(p, req) for p in items],
                              "links": self._links(req, "/v3/projects")})

    def create_projects(self, req: Request) -> Response:
        self._require_admin(req, "identity:create_project")
        b = self._body(req, "project")
        name = b.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request("Invalid input for field 'name': a name is required.")
        domain_id = str(b.get("domain_id") or req.auth.user.domain_id)
        if domain_id not in self.cloud.domains:
            raise not_found(f"Could not find domain: {domain_id}.")
        if self.cloud.project_by_name(name, domain_id):
            raise conflict(f"Conflict occurred attempting to store project - it is not "
                           f"permitted to have two projects with the same name in the same "
                           f"domain : {name}.")
        parent_id = b.get("parent_id")
        if parent_id and parent_id not in self.cloud.projects and parent_id != domain_id:
            raise not_found(f"Could not find project: {parent_id}.")
        known = {"name", "domain_id", "description", "enabled", "is_domain", "parent_id",
                 "tags", "options"}
        p = Project(id=self._new_id(), name=name, domain_id=domain_id,
                    description=b.get("description") or "", enabled=bool(b.get("enabled", True)),
                    parent_id=parent_id if parent_id != domain_id else None,
                    tags=list(b.get("tags") or []), options=dict(b.get("options") or {}),
                    extra={k: v for k, v in b.items() if k not in known})
        self.cloud.projects[p.id] = p
        return json_response({"project": self._project(p, req)}, status=201)

    def get_projects(self, req: Request, id: str) -> Response:  # noqa: A002
        p = self._get_project(id)
        if not req.auth.is_admin and req.auth.project_id != p.id:
            raise denied("identity:get_project")
        return json_response({"project": self._project(p, req)})

    def update_projects(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:update_project")
        p = self._get_project(id)
        b = self._body(req, "project")
        if "domain_id" in b and b["domain_id"] != p.domain_id:
            raise bad_request("Update of `domain_id` is not allowed.")
        if "name" in b:
            other = self.cloud.project_by_name(str(b["name"]), p.domain_id)
            if other and other.id != p.id:
                raise conflict(f"Duplicate entry found with name {b['name']}.")
            p.name = str(b["name"])
        if "description" in b:
            p.description = b["description"] or ""
        if "enabled" in b:
            p.enabled = bool(b["enabled"])
        if "tags" in b:
            p.tags = list(b["tags"] or [])
        if "options" in b:
            p.options.update(b["options"] or {})
        for k, v in b.items():
            if k not in {"name", "description", "enabled", "tags", "options", "domain_id"}:
                p.extra[k] = v
        return json_response({"project": self._project(p, req)})

    def _drop_project(self, pid: str) -> None:
        self.cloud.projects.pop(pid, None)
        self.cloud.assignments = {a for a in self.cloud.assignments if a.project_id != pid}
        for t in [t for t in self.cloud.tokens.values() if t.project_id == pid]:
            self.cloud.tokens.pop(t.id, None)

    def delete_projects(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:delete_project")
        self._get_project(id)
        self._drop_project(id)
        return no_content()

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

    def list_users(self, req: Request) -> Response:
        self._require_admin(req, "identity:list_users")
        items = self._filter(list(self.cloud.users.values()), req, "name", "domain_id",
                             "enabled")
        return json_response({"users": [self._user(u, req) for u in items],
                              "links": self._links(req, "/v3/users")})

    def create_users(self, req: Request) -> Response:
        self._require_admin(req, "identity:create_user")
        b = self._body(req, "user")
        name = b.get("name")
        if not isinstance(name, str) or not name:
            raise bad_request("Invalid input for field 'name': a name is required.")
        domain_id = str(b.get("domain_id") or req.auth.user.domain_id)
        if domain_id not in self.cloud.domains:
            raise not_found(f"Could not find domain: {domain_id}.")
        if self.cloud.user_by_name(name, domain_id):
            raise conflict(f"Conflict occurred attempting to store user - Duplicate entry "
                           f"found with name {name} at domain ID {domain_id}.")
        known = {"name", "domain_id", "password", "enabled", "email", "description",
                 "default_project_id", "options"}
        u = User(id=self._new_id(), name=name, domain_id=domain_id,
                 password=str(b.get("password") or ""), enabled=bool(b.get("enabled", True)),
                 email=b.get("email"), description=b.get("description"),
                 default_project_id=b.get("default_project_id"),
                 options=dict(b.get("options") or {}),
                 extra={k: v for k, v in b.items() if k not in known})
        self.cloud.users[u.id] = u
        return json_response({"user": self._user(u, req)}, status=201)

    def get_users(self, req: Request, id: str) -> Response:  # noqa: A002
        if not req.auth.is_admin and req.auth.user_id != id:
            raise denied("identity:get_user")
        return json_response({"user": self._user(self._get_user(id), req)})

    def update_users(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:update_user")
        u = self._get_user(id)
        b = self._body(req, "user")
        if "name" in b:
            other = self.cloud.user_by_name(str(b["name"]), u.domain_id)
            if other and other.id != u.id:
                raise conflict(f"Duplicate entry found with name {b['name']}.")
            u.name = str(b["name"])
        for f in ("email", "description", "default_project_id"):
            if f in b:
                setattr(u, f, b[f])
        if "enabled" in b:
            u.enabled = bool(b["enabled"])
        if "password" in b:
            u.password = str(b["password"] or "")
        if "options" in b:
            u.options.update(b["options"] or {})
        for k, v in b.items():
            if k not in {"name", "email", "description", "default_project_id", "enabled",
                         "password", "options", "domain_id"}:
                u.extra[k] = v
        return json_response({"user": self._user(u, req)})

    def _drop_user(self, uid: str) -> None:
        self.cloud.users.pop(uid, None)
        self.cloud.assignments = {a for a in self.cloud.assignments if a.user_id != uid}
        for g in self.cloud.groups.values():
            g.members.discard(uid)
        for t in [t for t in self.cloud.tokens.values() if t.user_id == uid]:
            self.cloud.tokens.pop(t.id, None)

    def delete_users(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:delete_user")
        self._get_user(id)
        self._drop_user(id)
        return no_content()

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

    def list_groups(self, req: Request) -> Response:
        self._require_admin(req, "identity:list_groups")
        items = self._filter(list(self.cloud.groups.values()), req, "name", "domain_id")
        return json_response({"groups": [self._group(g, req) for g in items],
                              "links": self._links(req, "/v3/groups")})

    def create_groups(self, req: Request) -> Response:
        self._require_admin(req, "identity:create_group")
        b = self._body(req, "group")
        name = b.get("name")
        if not isinstance(name, str) or not name:
            raise bad_request("Invalid input for field 'name': a name is required.")
        domain_id = str(b.get("domain_id") or req.auth.user.domain_id)
        if domain_id not in self.cloud.domains:
            raise not_found(f"Could not find domain: {domain_id}.")
        if any(g.name == name and g.domain_id == domain_id for g in self.cloud.groups.values()):
            raise conflict(f"Conflict occurred attempting to store group - Duplicate entry "
                           f"found with name {name}.")
        g = Group(id=self._new_id(), name=name, domain_id=domain_id,
                  description=b.get("description") or "")
        self.cloud.groups[g.id] = g
        return json_response({"group": self._group(g, req)}, status=201)

    def get_groups(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:get_group")
        return json_response({"group": self._group(self._get_group(id), req)})

    def update_groups(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:update_group")
        g = self._get_group(id)
        b = self._body(req, "group")
        if "name" in b:
            g.name = str(b["name"])
        if "description" in b:
            g.description = b["description"] or ""
        return json_response({"group": self._group(g, req)})

    def _drop_group(self, gid: str) -> None:
        self.cloud.groups.pop(gid, None)
        self.cloud.assignments = {a for a in self.cloud.assignments if a.group_id != gid}

    def delete_groups(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:delete_group")
        self._get_group(id)
        self._drop_group(id)
        return no_content()

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

    def list_roles(self, req: Request) -> Response:
        if not req.auth.is_admin and "reader" not in req.auth.roles:
            raise denied("identity:list_roles")
        items = self._filter(list(self.cloud.roles.values()), req, "name", "domain_id")
        return json_response({"roles": [self._role(r, req) for r in items],
                              "links": self._links(req, "/v3/roles")})

    def create_roles(self, req: Request) -> Response:
        self._require_admin(req, "identity:create_role")
        b = self._body(req, "role")
        name = b.get("name")
        if not isinstance(name, str) or not name:
            raise bad_request("Invalid input for field 'name': a name is required.")
        if any(r.name == name and r.domain_id == b.get("domain_id")
               for r in self.cloud.roles.values()):
            raise conflict(f"Conflict occurred attempting to store role - Duplicate entry "
                           f"found with name {name}.")
        r = Role(id=self._new_id(), name=name, domain_id=b.get("domain_id"),
                 description=b.get("description"), options=dict(b.get("options") or {}))
        self.cloud.roles[r.id] = r
        return json_response({"role": self._role(r, req)}, status=201)

    def get_roles(self, req: Request, id: str) -> Response:  # noqa: A002
        return json_response({"role": self._role(self._get_role(id), req)})

    def update_roles(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:update_role")
        r = self._get_role(id)
        b = self._body(req, "role")
        if "name" in b:
            r.name = str(b["name"])
        if "description" in b:
            r.description = b["description"]
        return json_response({"role": self._role(r, req)})

    def delete_roles(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:delete_role")
        self._get_role(id)
        del self.cloud.roles[id]
        self.cloud.assignments = {a for a in self.cloud.assignments if a.role_id != id}
        return no_content()

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

    def list_regions(self, req: Request) -> Response:
        return json_response({"regions": [self._region(r, req)
                                          for r in self.cloud.kregions.values()],
                              "links": self._links(req, "/v3/regions")})

    def create_regions(self, req: Request) -> Response:
        self._require_admin(req, "identity:create_region")
        b = self._body(req, "region")
        rid = str(b.get("id") or self._new_id())
        if rid in self.cloud.kregions:
            raise conflict(f"Duplicate ID, {rid}.")
        r = KRegion(id=rid, description=b.get("description") or "",
                    parent_region_id=b.get("parent_region_id"))
        self.cloud.kregions[rid] = r
        return json_response({"region": self._region(r, req)}, status=201)

    def get_regions(self, req: Request, id: str) -> Response:  # noqa: A002
        r = self.cloud.kregions.get(id)
        if r is None:
            raise not_found(f"Could not find region: {id}.")
        return json_response({"region": self._region(r, req)})

    def update_regions(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:update_region")
        r = self.cloud.kregions.get(id)
        if r is None:
            raise not_found(f"Could not find region: {id}.")
        b = self._body(req, "region")
        if "description" in b:
            r.description = b["description"] or ""
        return json_response({"region": self._region(r, req)})

    def delete_regions(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:delete_region")
        if id in self.cloud.regions:
            raise forbidden(f"Region {id} is served by this simulator and cannot be deleted.")
        if self.cloud.kregions.pop(id, None) is None:
            raise not_found(f"Could not find region: {id}.")
        return no_content()

    def _service(self, s: CatalogService, req: Request) -> dict[str, Any]:
        return {"id": s.id, "type": s.type, "name": s.name, "enabled": s.enabled,
                "description": s.description,
                "links": {"self": f"{req.base_url}/v3/services/{s.id}"}}

    def _get_service(self, key: str) -> CatalogService:
        return lookup(self.cloud.catalog_services, key, "service")

    def list_services(self, req: Request) -> Response:
        self._require_admin(req, "identity:list_services")
        items = self._filter(list(self.cloud.catalog_services.values()), req, "type", "name")
        return json_response({"services": [self._service(s, req) for s in items],
                              "links": self._links(req, "/v3/services")})

    def create_services(self, req: Request) -> Response:
        self._require_admin(req, "identity:create_service")
        b = self._body(req, "service")
        if not b.get("type"):
            raise bad_request("Invalid input for field 'type': a type is required.")
        s = CatalogService(id=self._new_id(), type=str(b["type"]), name=str(b.get("name") or ""),
                           enabled=bool(b.get("enabled", True)),
                           description=b.get("description") or "")
        self.cloud.catalog_services[s.id] = s
        return json_response({"service": self._service(s, req)}, status=201)

    def get_services(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:get_service")
        return json_response({"service": self._service(self._get_service(id), req)})

    def update_services(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:update_service")
        s = self._get_service(id)
        b = self._body(req, "service")
        for f in ("type", "name", "description"):
            if f in b:
                setattr(s, f, b[f] or "")
        if "enabled" in b:
            s.enabled = bool(b["enabled"])
        return json_response({"service": self._service(s, req)})

    def delete_services(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:delete_service")
        self._get_service(id)
        del self.cloud.catalog_services[id]
        for eid in [e.id for e in self.cloud.endpoints.values() if e.service_id == id]:
            del self.cloud.endpoints[eid]
        return no_content()

    def _endpoint(self, e: Endpoint, req: Request) -> dict[str, Any]:
        return {"id": e.id, "service_id": e.service_id, "interface": e.interface,
                "region_id": e.region_id, "region": e.region_id, "url": e.url,
                "enabled": e.enabled, "links": {"self": f"{req.base_url}/v3/endpoints/{e.id}"}}

    def _get_endpoint(self, key: str) -> Endpoint:
        return lookup(self.cloud.endpoints, key, "endpoint")

    def list_endpoints(self, req: Request) -> Response:
        self._require_admin(req, "identity:list_endpoints")
        items = self._filter(list(self.cloud.endpoints.values()), req, "service_id",
                             "interface", "region_id")
        return json_response({"endpoints": [self._endpoint(e, req) for e in items],
                              "links": self._links(req, "/v3/endpoints")})

    def create_endpoints(self, req: Request) -> Response:
        self._require_admin(req, "identity:create_endpoint")
        b = self._body(req, "endpoint")
        if b.get("interface") not in ("public", "internal", "admin"):
            raise bad_request("Invalid input for field 'interface': must be one of public, "
                              "internal, admin.")
        if not b.get("url"):
            raise bad_request("Invalid input for field 'url': a url is required.")
        self._get_service(str(b.get("service_id")))
        e = Endpoint(id=self._new_id(), service_id=str(b["service_id"]),
                     interface=str(b["interface"]),
                     region_id=b.get("region_id") or b.get("region"), url=str(b["url"]),
                     enabled=bool(b.get("enabled", True)))
        self.cloud.endpoints[e.id] = e
        return json_response({"endpoint": self._endpoint(e, req)}, status=201)

    def get_endpoints(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:get_endpoint")
        return json_response({"endpoint": self._endpoint(self._get_endpoint(id), req)})

    def update_endpoints(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:update_endpoint")
        e = self._get_endpoint(id)
        b = self._body(req, "endpoint")
        for f in ("interface", "url", "region_id", "service_id"):
            if f in b:
                setattr(e, f, b[f])
        if "enabled" in b:
            e.enabled = bool(b["enabled"])
        return json_response({"endpoint": self._endpoint(e, req)})

    def delete_endpoints(self, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, "identity:delete_endpoint")
        self._get_endpoint(id)
        del self.cloud.endpoints[id]
        return no_content()
