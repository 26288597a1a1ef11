"""One implementation of Keystone's admin CRUD, parameterised per resource.

Domains, projects, users, groups, roles, regions, services and endpoints all answer
``GET/POST /v3/{plural}`` and ``GET/PATCH/DELETE /v3/{plural}/{id}`` the same way: a policy
check, a lookup with Keystone's 404, the body under the singular key, a view per item and
list ``links``. :class:`AdminResource` says what differs (filters, who may read, how a new
item is built from its body, which fields an update sets, what a delete takes with it);
:class:`AdminResourceHandlers` is the one implementation of the five handlers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from govcloud.sim.http import (
    ApiError,
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
from govcloud.sim.model import AuthContext
from govcloud.sim.state import Cloud

T = TypeVar("T")

Policy = Callable[[AuthContext, str], bool]
"""Whether the caller may act on the item with this id (before any lookup)."""


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


# --- policies and update converters ------------------------------------------------------------

def admin_only(auth: AuthContext, _id: str) -> bool:
    return auth.is_admin


def anyone(auth: AuthContext, _id: str) -> bool:
    return True


def text(value: Any) -> Any:
    """A field Keystone stores as an empty string when given null."""
    return value or ""


def raw(value: Any) -> Any:
    return value


def as_list(value: Any) -> list[Any]:
    return list(value or [])


MERGE = "merge"
"""An update converter: the body's mapping is merged into the item's (``options``)."""

Converter = Callable[[Any], Any] | str


@dataclass(frozen=True)
class AdminResource:
    """What one Keystone admin resource does differently from the others.

    ``view``, ``build`` and ``drop`` take the API object first (they are its methods,
    unbound): ``view(api, item, req)``, ``build(api, req, body) -> item`` (validates the
    create body, may raise), ``drop(api, item)`` (removes it and what hangs off it).
    """

    plural: str  # route segment and list key: "projects"
    singular: str  # body key, policy and 404 label: "project"
    items: Callable[[Cloud], dict[str, Any]]
    view: Callable[[Any, Any, Request], dict[str, Any]]
    build: Callable[[Any, Request, dict[str, Any]], Any]
    fields: Mapping[str, Converter]  # what PATCH sets, in this order
    filters: tuple[str, ...] = ("name", "domain_id")
    may_list: Callable[[AuthContext], bool] = lambda auth: auth.is_admin
    may_show: Policy = admin_only
    show_looks_up_first: bool = False  # a missing id answers 404 before the policy 403
    same_name: Callable[[Cloud, str, Any], Any] | None = None  # PATCH's duplicate name check
    fixed_domain: bool = False  # PATCH refuses to move the item to another domain
    extra: bool = False  # PATCH keeps unknown fields in ``item.extra``
    drop: Callable[[Any, Any], None] | None = None  # default: forget the item
    narrow: Callable[[list[Any], Request], list[Any]] | None = None  # list filters beyond ==


class AdminResourceHandlers:
    """List, create, show, update and delete for every :class:`AdminResource`."""

    cloud: Cloud

    @staticmethod
    def _new_id() -> str:
        return uuid.uuid4().hex

    def _links(self, req: Request, path: str) -> dict[str, Any]:
        return {"self": req.base_url + path, "previous": None, "next": None}

    def _require_admin(self, req: Request, action: str) -> None:
        if not req.auth.is_admin:
            raise denied(action)

    def _filter(self, items: list[Any], req: Request, *fields: str) -> list[Any]:
        for f in fields:
            value = req.arg(f)
            if value is None:
                continue
            if f == "enabled":
                want = as_bool(value)
                items = [i for i in items if i.enabled == want]
            else:
                items = [i for i in items if str(getattr(i, f, None)) == value]
        return items

    def _body(self, req: Request, key: str) -> dict[str, Any]:
        return req.json_object(key)

    def register_resources(self, router: Router, service: str,
                           resources: tuple[AdminResource, ...]) -> None:
        for r in resources:
            router.add(service, "GET", f"/v3/{r.plural}", partial(self.list_resource, r))
            router.add(service, "POST", f"/v3/{r.plural}", partial(self.create_resource, r))
            item = f"/v3/{r.plural}/{{id}}"
            router.add(service, "GET", item, partial(self.show_resource, r))
            router.add(service, "PATCH", item, partial(self.update_resource, r))
            router.add(service, "DELETE", item, partial(self.delete_resource, r))

    def _one(self, r: AdminResource, item: Any, req: Request, status: int = 200) -> Response:
        return json_response({r.singular: r.view(self, item, req)}, status=status)

    def list_resource(self, r: AdminResource, req: Request) -> Response:
        if not r.may_list(req.auth):
            raise denied(f"identity:list_{r.plural}")
        items = self._filter(list(r.items(self.cloud).values()), req, *r.filters)
        if r.narrow is not None:
            items = r.narrow(items, req)
        return json_response({r.plural: [r.view(self, i, req) for i in items],
                              "links": self._links(req, f"/v3/{r.plural}")})

    def create_resource(self, r: AdminResource, req: Request) -> Response:
        self._require_admin(req, f"identity:create_{r.singular}")
        item = r.build(self, req, self._body(req, r.singular))
        r.items(self.cloud)[item.id] = item
        return self._one(r, item, req, status=201)

    def show_resource(self, r: AdminResource, req: Request, id: str) -> Response:  # noqa: A002
        items = r.items(self.cloud)
        if r.show_looks_up_first:
            lookup(items, id, r.singular)
        if not r.may_show(req.auth, id):
            raise denied(f"identity:get_{r.singular}")
        return self._one(r, lookup(items, id, r.singular), req)

    def update_resource(self, r: AdminResource, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, f"identity:update_{r.singular}")
        item = lookup(r.items(self.cloud), id, r.singular)
        b = self._body(req, r.singular)
        if r.fixed_domain and "domain_id" in b and b["domain_id"] != item.domain_id:
            raise bad_request("Update of `domain_id` is not allowed.")
        if r.same_name is not None and "name" in b:
            other = r.same_name(self.cloud, str(b["name"]), item)
            if other and other.id != item.id:
                raise conflict(f"Duplicate entry found with name {b['name']}.")
        for f, convert in r.fields.items():
            if f not in b:
                continue
            if convert == MERGE:
                getattr(item, f).update(b[f] or {})
            elif callable(convert):
                setattr(item, f, convert(b[f]))
        if r.extra:
            item.extra.update({k: v for k, v in b.items()
                               if k not in r.fields and k != "domain_id"})
        return self._one(r, item, req)

    def delete_resource(self, r: AdminResource, req: Request, id: str) -> Response:  # noqa: A002
        self._require_admin(req, f"identity:delete_{r.singular}")
        item = lookup(r.items(self.cloud), id, r.singular)
        if r.drop is None:
            del r.items(self.cloud)[id]
        else:
            r.drop(self, item)
        return no_content()
