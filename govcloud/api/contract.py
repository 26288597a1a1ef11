"""What the OpenAPI document promises besides each route's own parameters, so that it is true
(a schemathesis run in the tests holds the server to it):

* the error answers: every route may answer 400/401/403/404/409/413/422 (and 500/503) with
  ``ErrorBody``, ``{"error": {"message", "hint", "type"}}`` (``ERROR_RESPONSES``);
* the input bounds of ``govcloud.domain.limits`` as parameter types: ids and cursors within
  the database's INTEGER (``Id``, ``cursor``), names and text with a length, lists with a
  size, times in ISO 8601.

A route declares ``Annotated[int, cursor("...")] = 0``-style parameters with these; models
use ``govcloud.api.fields``' ``Name``, ``Line``, ``Text`` and ``Names`` for their fields.

The query string holds only what the document declares (``declared_query``, on every route):
a parameter the operation does not have is a 422 (a misspelt filter never lists everything),
and one declared as one value (``department``, ``site``, ``limit``...) given more than once
is a 422 (the server never picks one of the values silently, so that what a proxy or a log
shows is what was served). Parameters that take several values say so in the document (an
array, "repeat the parameter").
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from govcloud.domain.limits import MAX_ID, MAX_NAME, MAX_QUERY_ITEMS
from govcloud.domain.text import IDENTIFIER_PATTERN, printable
from govcloud.errors import InvalidInput


class ErrorDetail(BaseModel):
    message: str = Field(description="what went wrong")
    hint: str | None = Field(description="what to do about it")
    type: str = Field(description="the govcloud error class, e.g. InvalidInput, NotFound")


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("a body that cannot be read as JSON text (InvalidInput; CLI exit 2)"),
    401: _error("no token, or one that is unknown, malformed, expired or revoked "
                "(Unauthenticated; CLI exit 5)"),
    403: _error("the role or scope does not allow it (Forbidden; CLI exit 5)"),
    404: _error("no such thing, or one the caller may not see (NotFound; CLI exit 4)"),
    409: _error("it changed meanwhile or is in the way (ConflictError; CLI exit 3)"),
    413: _error("the request body is over the server's limit (TooLarge; CLI exit 2)"),
    422: _error("bad parameters or body: a field, its type or its length "
                "(InvalidInput; CLI exit 2)"),
    500: _error("a bug in govcloud; the server log has the traceback (CLI exit 1)"),
    503: _error("a cloud or the database is unreachable; retrying may help "
                "(TemporaryError; CLI exit 75)"),
}

# --- integers: ids and cursors fit the database's INTEGER columns -------------------------------

Id = Path(ge=1, le=MAX_ID, description="an id (1 to 2^31-1)")
"""A path parameter that is a row id: ``request_id: Annotated[int, Id]``."""


def cursor(description: str) -> Any:
    """A query parameter that is a position in a list (0 to 2^31-1)."""
    return Query(ge=0, le=MAX_ID, description=description)


# --- strings ---------------------------------------------------------------------------------

Identifier = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, max_length=128,
                                 description="a name or id: a letter or digit, then letters, "
                                             "digits, '.', '_', '@' or '-'")]
"""A path parameter naming a thing (department code, wave id, host, site, principal, server
id): ``govcloud.domain.text.IDENTIFIER``, so ``..``, ``/``, ``?``, ``%`` or a control
character never reaches a route's code (422 before it runs). Body fields (``Name``, ``Line``,
``Text``, ``Names``, ``IsoTime``) are in ``govcloud.api.fields``."""


def name_query(description: str | None = None) -> Any:
    """A query parameter that names a thing (at most ``MAX_NAME`` characters)."""
    return Query(max_length=MAX_NAME, description=description)


def names_query(description: str | None = None) -> Any:
    """A repeated query parameter of names: ``Annotated[list[Name] | None, names_query()]``
    (at most ``MAX_QUERY_ITEMS`` of them)."""
    return Query(max_length=MAX_QUERY_ITEMS, description=description)


# --- a query parameter of one value is given once -----------------------------------------------

def _takes_many(annotation: Any) -> bool:
    """Does a parameter of this type take several values (``list[...]``, optional or not)?"""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _takes_many(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return any(_takes_many(a) for a in get_args(annotation))
    return origin in (list, tuple, set, frozenset)


_QUERY_NAMES = "_govcloud_query_names"  # the route attribute that keeps them


def _query_names(route: APIRoute) -> tuple[frozenset[str], frozenset[str]]:
    """``route``'s query parameter names: all of them, and those that take one value
    (computed once a route, and kept on it)."""
    known: tuple[frozenset[str], frozenset[str]] | None = getattr(route, _QUERY_NAMES, None)
    if known is not None:
        return known
    every: set[str] = set()
    single: set[str] = set()

    def walk(dependant: Dependant) -> None:
        for param in dependant.query_params:
            every.add(param.alias)
            if not _takes_many(param.field_info.annotation):
                single.add(param.alias)
        for sub in dependant.dependencies:
            walk(sub)

    walk(route.dependant)
    names = frozenset(every), frozenset(single)
    setattr(route, _QUERY_NAMES, names)
    return names


def _shown(name: str) -> str:
    return printable(name if len(name) <= 40 else name[:40] + "...")


def declared_query(request: Request) -> None:
    """A dependency of every route: 422 when the query string holds a parameter the route
    does not declare (a misspelt filter must not silently list everything), or gives one
    that takes one value more than once (FastAPI would silently use the last one)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    every, single = _query_names(route)
    query = request.query_params
    unknown = sorted({n for n in query if n not in every})
    problems = [f"query.{_shown(n)}: not a parameter of this endpoint" for n in unknown[:5]]
    problems += [f"query.{n}: given {len(query.getlist(n))} times, takes one value"
                 for n in sorted(single) if len(query.getlist(n)) > 1]
    if problems:
        known = ", ".join(sorted(every)) or "none"
        raise InvalidInput("invalid request: " + "; ".join(problems),
                           hint=f"this endpoint's query parameters: {known}, each once but "
                                "the lists (see the OpenAPI document at /api/v1/openapi.json)")
