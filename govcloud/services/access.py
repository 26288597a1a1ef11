"""Who may reach which department: the one RBAC decision the use cases share.

A department's object (a request, a legacy host, a wave, the department itself) is checked
with ``check_department``: one the principal may not even view (``department.view``) is
answered as absent (``NotFound``, 404, by default "no department"), never 403, so that nothing
tells another department's objects from ones that do not exist; one it may view but not
``action`` is refused with the reason (``Forbidden``, 403). Lists are filtered with
``visible`` / ``visible_codes``. The rules themselves are ``govcloud.domain.rbac``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from govcloud.domain.catalogue import Catalogue, Department
from govcloud.domain.rbac import GLOBAL, Action, Principal, Target, can, require
from govcloud.errors import GovCloudError, NotFound
from govcloud.services.inventory import rbac_city

Missing = Callable[[], GovCloudError]


def no_department(code: str) -> NotFound:
    return NotFound(f"no department {code!r}",
                    hint="`govcloud departments list` shows the departments you may see")


def target_of(department: Department) -> Target:
    return Target.of(department.code, rbac_city(department))


def department_target(catalogue: Catalogue, code: str) -> Target:
    """The RBAC target of department ``code`` (one no longer in the catalogue: no city)."""
    department = catalogue.find(code)
    return target_of(department) if department is not None else Target.of(code, None)


def check_department(principal: Principal, catalogue: Catalogue, code: str, action: Action,
                     missing: Missing | None = None) -> None:
    """May ``principal`` ``action`` department ``code`` (or an object of it)? One it may not
    even view is answered as absent (``missing()``, by default "no department"), one it may
    view but not ``action`` is refused (403)."""
    target = department_target(catalogue, code)
    if not can(principal, Action.VIEW_DEPARTMENT, target):
        raise (missing or (lambda: no_department(code)))()
    require(principal, action, target)


def get_department(principal: Principal, catalogue: Catalogue, code: str, action: Action,
                   missing: Missing | None = None) -> Department:
    """Department ``code`` of the catalogue, when ``principal`` may see it (else absent: 404,
    as is one not in the catalogue) and ``action`` it (else 403)."""
    department = catalogue.find(code)
    if department is None:
        raise (missing or (lambda: no_department(code)))()
    check_department(principal, catalogue, code, action, missing)
    return department


def visible(principal: Principal, catalogue: Catalogue, action: Action) -> list[Department]:
    """The catalogue's departments ``principal`` may ``action``, in catalogue order."""
    return [d for d in catalogue if can(principal, action, target_of(d))]


def visible_codes(principal: Principal, catalogue: Catalogue,
                  action: Action = Action.VIEW_DEPARTMENT) -> list[str] | None:
    """None when ``principal`` may ``action`` on the whole cloud, else the codes it may."""
    if can(principal, action, GLOBAL):
        return None
    return [d.code for d in visible(principal, catalogue, action)]


def codes_asked(principal: Principal, catalogue: Catalogue, action: Action,
                asked: Sequence[str] | None) -> list[str]:
    """The department codes to work on: those asked for (each checked, as
    ``get_department``) or every one ``principal`` may ``action``."""
    if not asked:
        return [d.code for d in visible(principal, catalogue, action)]
    for code in asked:
        get_department(principal, catalogue, code, action)
    return list(dict.fromkeys(asked))


def no_city(city: str) -> NotFound:
    return NotFound(f"no city {city!r}",
                    hint="`govcloud departments list` shows the departments (and their "
                         "cities) you may see")


def scope_of(principal: Principal, catalogue: Catalogue, action: Action, *,
             department: str | None = None, city: str | None = None) -> list[str] | None:
    """The departments a read over many departments (the DR posture) covers: None for every
    one (a principal who may ``action`` the whole cloud and asked for no department or city),
    else the codes. ``department``, when given, is checked as ``get_department`` (absent or
    hidden: 404); ``city`` narrows to the catalogue's departments of that city the principal
    may ``action`` — a city with none (unknown, or another city's operator asking) is
    answered as absent (404), like a hidden department."""
    codes = [get_department(principal, catalogue, department, action).code] \
        if department is not None else visible_codes(principal, catalogue, action)
    if city is None:
        return codes
    in_city = [d.code for d in visible(principal, catalogue, action) if rbac_city(d) == city]
    if not in_city:
        raise no_city(city)
    return in_city if codes is None else [c for c in codes if c in in_city]
