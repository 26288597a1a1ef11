"""Keystone v3: password/token auth with a service catalog, and the identity admin API.

Shared by every region, served at ``/identity``. Policy follows Keystone's defaults closely
enough for clients: admin-role tokens (project- or system-scoped) see and change everything;
others may read themselves, their projects and the catalog, and get 403 elsewhere.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

from govcloud.sim.http import (
    Request,
    Response,
    Router,
    bad_request,
    json_response,
    no_content,
    not_found,
)
from govcloud.sim.keystone_admin import RESOURCES, IdentityAdminMixin
from govcloud.sim.keystone_resources import denied, unauthorized
from govcloud.sim.model import (
    AuthContext,
    Token,
    User,
    iso_us,
    now,
)
from govcloud.sim.state import Cloud

V3_ID = "v3.14"
V3_UPDATED = "2020-04-07T00:00:00Z"


class KeystoneAPI(IdentityAdminMixin):
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    # --- authentication used by every service ----------------------------------------------

    def authenticate(self, token_id: str | None) -> AuthContext | None:
        if not token_id:
            return None
        token = self.cloud.tokens.get(token_id)
        if token is None or token.expires_at <= now():
            return None
        user = self.cloud.users.get(token.user_id)
        if user is None or not user.enabled:
            return None
        roles = [self.cloud.roles[r].name for r in token.role_ids if r in self.cloud.roles]
        return AuthContext(token=token, user=user, roles=roles, project_id=token.project_id,
                           system=token.system)

    # --- routes ----------------------------------------------------------------------------

    def register(self, router: Router) -> None:
        add = router.add
        s = "identity"
        add(s, "GET", "/", self.versions, auth=False)
        add(s, "GET", "/v3", self.version, auth=False)
        add(s, "POST", "/v3/auth/tokens", self.issue_token, auth=False)
        add(s, "GET", "/v3/auth/tokens", self.validate_token)
        add(s, "DELETE", "/v3/auth/tokens", self.revoke_token)
        add(s, "GET", "/v3/auth/catalog", self.auth_catalog)
        add(s, "GET", "/v3/auth/projects", self.auth_projects)
        add(s, "GET", "/v3/auth/domains", self.auth_domains)
        add(s, "GET", "/v3/auth/system", self.auth_system)
        self.register_resources(router, s, RESOURCES)
        add(s, "GET", "/v3/users/{id}/projects", self.user_projects)
        add(s, "GET", "/v3/users/{id}/groups", self.user_groups)
        add(s, "POST", "/v3/users/{id}/password", self.change_password)
        add(s, "GET", "/v3/groups/{id}/users", self.group_users)
        add(s, "PUT", "/v3/groups/{id}/users/{user_id}", self.add_group_user)
        add(s, "HEAD", "/v3/groups/{id}/users/{user_id}", self.check_group_user)
        add(s, "GET", "/v3/groups/{id}/users/{user_id}", self.check_group_user)
        add(s, "DELETE", "/v3/groups/{id}/users/{user_id}", self.remove_group_user)
        for target in ("projects", "domains"):
            for actor in ("users", "groups"):
                base = f"/v3/{target}/{{target_id}}/{actor}/{{actor_id}}/roles"
                add(s, "GET", base, self._role_list(target, actor))
                add(s, "PUT", base + "/{role_id}", self._role_grant(target, actor))
                add(s, "HEAD", base + "/{role_id}", self._role_check(target, actor))
                add(s, "DELETE", base + "/{role_id}", self._role_revoke(target, actor))
        for actor in ("users", "groups"):
            base = f"/v3/system/{actor}/{{actor_id}}/roles"
            add(s, "GET", base, self._role_list("system", actor, fixed="all"))
            add(s, "PUT", base + "/{role_id}", self._role_grant("system", actor, fixed="all"))
            add(s, "HEAD", base + "/{role_id}", self._role_check("system", actor, fixed="all"))
            add(s, "GET", base + "/{role_id}", self._role_check("system", actor, fixed="all"))
            add(s, "DELETE", base + "/{role_id}",
                self._role_revoke("system", actor, fixed="all"))
        add(s, "GET", "/v3/role_assignments", self.role_assignments)

    # --- version documents -------------------------------------------------------------------

    def _version_doc(self, req: Request) -> dict[str, Any]:
        return {
            "id": V3_ID, "status": "stable", "updated": V3_UPDATED,
            "links": [{"rel": "self", "href": req.base_url + "/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}],
        }

    def versions(self, req: Request) -> Response:
        return json_response({"versions": {"values": [self._version_doc(req)]}}, status=300)

    def version(self, req: Request) -> Response:
        return json_response({"version": self._version_doc(req)})

    # --- tokens ------------------------------------------------------------------------------

    def _find_user(self, spec: dict[str, Any]) -> User | None:
        if "id" in spec:
            return self.cloud.users.get(str(spec["id"]))
        name = spec.get("name")
        domain = spec.get("domain") or {}
        domain_id = self._domain_id(domain)
        if name is None or domain_id is None:
            return None
        return self.cloud.user_by_name(str(name), domain_id)

    def _domain_id(self, spec: Any) -> str | None:
        if not isinstance(spec, dict):
            return None
        if "id" in spec:
            return str(spec["id"]) if spec["id"] in self.cloud.domains else None
        if "name" in spec:
            d = self.cloud.domain_by_name(str(spec["name"]))
            return d.id if d else None
        return None

    def issue_token(self, req: Request) -> Response:
        auth = req.json_object("auth")
        identity = auth.get("identity")
        if not isinstance(identity, dict) or not isinstance(identity.get("methods"), list):
            raise bad_request("Invalid input for field 'identity': 'methods' is required.")
        methods = identity["methods"]
        user: User | None = None
        previous: Token | None = None
        if "password" in methods:
            pw = identity.get("password") or {}
            spec = pw.get("user") if isinstance(pw, dict) else None
            if not isinstance(spec, dict):
                raise bad_request("Invalid input for field 'identity/password/user'.")
            user = self._find_user(spec)
            if user is None or not secrets.compare_digest(user.password,
                                                          str(spec.get("password", ""))):
                raise unauthorized()
        elif "token" in methods:
            tok = identity.get("token") or {}
            previous = self.cloud.tokens.get(str(tok.get("id", "")))
            if previous is None or previous.expires_at <= now():
                raise unauthorized("The request you have made requires authentication.")
            user = self.cloud.users.get(previous.user_id)
        else:
            raise unauthorized(f"Unsupported authentication method: {methods}")
        if user is None or not user.enabled:
            raise unauthorized()

        scope = auth.get("scope")
        project_id = domain_id = None
        system = False
        if scope in (None, "unscoped"):
            if previous is None and user.default_project_id in self.cloud.projects:
                project_id = user.default_project_id
        elif isinstance(scope, dict) and "project" in scope:
            p = scope["project"] or {}
            project = None
            if "id" in p:
                project = self.cloud.projects.get(str(p["id"]))
            elif "name" in p:
                did = self._domain_id(p.get("domain") or {})
                project = self.cloud.project_by_name(str(p["name"]), did) if did else None
            if project is None or not project.enabled:
                raise unauthorized("The request you have made requires authentication.")
            project_id = project.id
        elif isinstance(scope, dict) and "domain" in scope:
            domain_id = self._domain_id(scope["domain"] or {})
            if domain_id is None:
                raise unauthorized()
        elif isinstance(scope, dict) and "system" in scope:
            system = True
        else:
            raise bad_request("Invalid scope in authentication request.")

        role_ids = self.cloud.effective_role_ids(user.id, project_id=project_id,
                                                 domain_id=domain_id, system=system)
        if (project_id or domain_id or system) and not role_ids:
            if scope not in (None, "unscoped"):
                raise unauthorized(f"User {user.id} has no access to the requested scope.")
            project_id = None
        issued = now()
        token = Token(id="gAAAAA" + uuid.uuid4().hex + uuid.uuid4().hex, user_id=user.id,
                      methods=list(methods), issued_at=issued,
                      expires_at=issued + dt.timedelta(seconds=self.cloud.token_ttl),
                      audit_id=secrets.token_urlsafe(16)[:22], project_id=project_id,
                      domain_id=domain_id, system=system, role_ids=role_ids)
        self.cloud.tokens[token.id] = token
        if len(self.cloud.tokens) > 50000:  # keep memory bounded in long runs
            for tid in [t.id for t in self.cloud.tokens.values() if t.expires_at <= issued]:
                self.cloud.tokens.pop(tid, None)
        body = self._token_body(token, req)
        return Response(status=201, body=body, headers={"X-Subject-Token": token.id})

    def _token_body(self, token: Token, req: Request) -> dict[str, Any]:
        user = self.cloud.users[token.user_id]
        body: dict[str, Any] = {
            "methods": token.methods,
            "user": {"id": user.id, "name": user.name, "domain": self._domain_ref(user.domain_id),
                     "password_expires_at": None},
            "audit_ids": [token.audit_id],
            "expires_at": iso_us(token.expires_at),
            "issued_at": iso_us(token.issued_at),
        }
        if token.scope != "unscoped":
            body["roles"] = [{"id": r, "name": self.cloud.roles[r].name}
                             for r in token.role_ids if r in self.cloud.roles]
            body["catalog"] = self._catalog(token)
        if token.project_id:
            p = self.cloud.projects[token.project_id]
            body["project"] = {"id": p.id, "name": p.name,
                               "domain": self._domain_ref(p.domain_id)}
            body["is_domain"] = False
        if token.domain_id:
            body["domain"] = self._domain_ref(token.domain_id)
        if token.system:
            body["system"] = {"all": True}
        return {"token": body}

    def _catalog(self, token: Token) -> list[dict[str, Any]]:
        out = []
        for svc in self.cloud.catalog_services.values():
            if not svc.enabled:
                continue
            eps = []
            for ep in self.cloud.endpoints.values():
                if ep.service_id != svc.id or not ep.enabled:
                    continue
                url = ep.url
                if "$(project_id)s" in url or "%(project_id)s" in url:
                    if token.project_id:
                        url = url.replace("$(project_id)s", token.project_id)
                        url = url.replace("%(project_id)s", token.project_id)
                    else:
                        url = url.replace("/$(project_id)s", "").replace("/%(project_id)s", "")
                eps.append({"id": ep.id, "interface": ep.interface, "region_id": ep.region_id,
                            "region": ep.region_id, "url": url})
            out.append({"id": svc.id, "type": svc.type, "name": svc.name, "endpoints": eps})
        return out

    def _subject(self, req: Request) -> Token:
        tid = req.header("x-subject-token")
        token = self.cloud.tokens.get(tid or "")
        if token is None or token.expires_at <= now():
            raise not_found(f"Could not find token: {tid}.")
        return token

    def validate_token(self, req: Request) -> Response:
        token = self._subject(req)
        ctx = req.auth
        if not ctx.is_admin and token.user_id != ctx.user_id:
            raise denied("identity:validate_token")
        return Response(body=self._token_body(token, req), headers={"X-Subject-Token": token.id})

    def revoke_token(self, req: Request) -> Response:
        token = self._subject(req)
        if not req.auth.is_admin and token.user_id != req.auth.user_id:
            raise denied("identity:revoke_token")
        self.cloud.tokens.pop(token.id, None)
        return no_content()

    def auth_catalog(self, req: Request) -> Response:
        return json_response({"catalog": self._catalog(req.auth.token),
                              "links": self._links(req, "/v3/auth/catalog")})

    def auth_projects(self, req: Request) -> Response:
        uid = req.auth.user_id
        projects = [p for p in self.cloud.projects.values()
                    if self.cloud.effective_role_ids(uid, project_id=p.id)]
        return json_response({"projects": [self._project(p, req) for p in projects],
                              "links": self._links(req, "/v3/auth/projects")})

    def auth_domains(self, req: Request) -> Response:
        uid = req.auth.user_id
        domains = [d for d in self.cloud.domains.values()
                   if self.cloud.effective_role_ids(uid, domain_id=d.id)]
        return json_response({"domains": [self._domain(d, req) for d in domains],
                              "links": self._links(req, "/v3/auth/domains")})

    def auth_system(self, req: Request) -> Response:
        has = bool(self.cloud.effective_role_ids(req.auth.user_id, system=True))
        return json_response({"system": [{"all": True}] if has else [],
                              "links": self._links(req, "/v3/auth/system")})
