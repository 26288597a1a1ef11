"""``GET /servers``: servers paged and filtered within the caller's scope — every live one, or
with ``changed_since`` only those changed (and the ids of those gone) since a cursor an earlier
answer gave, so that a console refreshing 30,000 servers pays for what changed.

Every answer carries ``changes_cursor``: pass it back as ``changed_since`` next time. It names
the database (its epoch), the newest change number the answer covers and the scope it was
read in (the principal's departments and the filters); one that is unknown, of another scope,
or older than the horizon (a purged tombstone, a department mapping changed: see
``govcloud.store.server_changes``) is answered with a full listing and ``full: true``, so the
client replaces what it holds instead of patching it. A paged answer keeps the change number
of its first page in ``next_cursor``: changes made while a client pages come with its next
changes listing (perhaps a second time; applying a change twice is harmless).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from govcloud.domain.rbac import Action, Principal, Target, can
from govcloud.errors import InvalidInput, NotFound
from govcloud.services.inventory import DEFAULT_PAGE, MAX_PAGE, _iso, scope_of
from govcloud.store import inventory as store
from govcloud.store import server_changes as changes
from govcloud.store.engine import autocommit_reads
from govcloud.store.server_changes import ChangeHead

_CHANGES_CURSOR = re.compile(r"([0-9a-f]{1,32})\.([0-9]{1,19})\.([0-9a-f]{12})")


def encode_cursor(site: str, server_id: str, upto: int | None = None) -> str:
    """A page's ``next_cursor``: the last (site, id) given and the change number the listing
    was started at."""
    text = f"{site}\n{'' if upto is None else upto}\n{server_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str, int | None]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        site, upto, server_id = raw.split("\n", 2)
        number = int(upto) if upto else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("invalid cursor", hint="pass next_cursor from the previous page "
                                                  "unchanged") from None
    if number is not None and number < 0:
        raise InvalidInput("invalid cursor", hint="pass next_cursor from the previous page "
                                                  "unchanged")
    return site, server_id, number


def server_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {"site": row["site"], "id": row["id"], "name": row["name"],
            "project_id": row["project_id"], "department": row["department"],
            "status": row["status"], "flavor": row["flavor_name"], "vcpus": row["vcpus"],
            "ram_mb": row["ram_mb"], "disk_gb": row["disk_gb"], "host": row["host"],
            "availability_zone": row["availability_zone"],
            "created": _iso(store.aware(row["created"])),
            "updated": _iso(store.aware(row["updated"]))}


def scope_print(departments: Sequence[str] | None, include_unmapped: bool,
                site: str | None) -> str:
    """What a changes cursor was read in: the departments, the unmapped servers, the site."""
    key = repr((None if departments is None else sorted(departments), include_unmapped, site))
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def changes_since(cursor: str | None, head: ChangeHead, fingerprint: str) -> int | None:
    """The change number ``cursor`` (a ``changes_cursor``) stands for, or None when it must
    be answered with a full listing: none given, not one of ours, of another database or
    scope, ahead of the counter, or older than the horizon."""
    if cursor is None:
        return None
    found = _CHANGES_CURSOR.fullmatch(cursor)
    if found is None or found[1] != head.epoch or found[3] != fingerprint:
        return None
    since = int(found[2])
    return since if head.horizon <= since <= head.seq else None


def list_servers(engine: Engine, *, principal: Principal, sites: Sequence[str],
                 catalogue: Mapping[str, str | None] | None = None,
                 department: str | None = None, site: str | None = None,
                 status: str | None = None, limit: int = DEFAULT_PAGE,
                 cursor: str | None = None, changed_since: str | None = None
                 ) -> dict[str, Any]:
    """One page of live servers within the principal's scope, ordered by (site, id); with
    ``changed_since``, of those changed since then and the ids of those gone."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1–{MAX_PAGE}, not {limit}")
    if site is not None and site not in sites:
        raise NotFound(f"no site named {site!r}", hint=f"configured sites: {', '.join(sites)}")
    if changed_since is not None and status is not None:
        raise InvalidInput("changed_since cannot be combined with status",
                           hint="list changes without status and filter them on your side")
    after_site, after_id, upto = decode_cursor(cursor) if cursor else (None, None, None)
    after = (after_site, after_id) if after_site is not None and after_id is not None else None
    # each read stands alone (the change head first, then the rows: see the module's doc)
    with autocommit_reads(engine).connect() as conn:
        scope = scope_of(conn, principal, Action.VIEW_SERVERS, catalogue or {})
        departments = scope.departments
        if department is not None:
            if department not in scope.cities or not can(
                    principal, Action.VIEW_SERVERS,
                    Target.of(department, scope.cities.get(department))):
                # as for an unknown code: nothing about another department leaks
                raise NotFound(f"no department {department!r}",
                               hint="`govcloud departments list` shows the departments you "
                                    "may see")
            departments = (department,)
        unmapped = scope.include_unmapped and department is None
        head = changes.head(conn)  # read first: rows stamped later come with the next call
        upto = head.seq if upto is None else min(upto, head.seq)
        fingerprint = scope_print(departments, unmapped, site)
        since = changes_since(changed_since, head, fingerprint)
        if since is None:
            rows = store.server_page(conn, departments=departments, include_unmapped=unmapped,
                                     site=site, status=status, after=after, limit=limit + 1)
        else:
            rows = changes.changes_page(conn, departments=departments,
                                        include_unmapped=unmapped, site=site, since=since,
                                        upto=upto, after=after, limit=limit + 1)
        states = store.sync_states(conn)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"servers": [server_json(r) for r in rows if r["deleted_at"] is None],
            "deleted": [{"site": r["site"], "id": r["id"]} for r in rows
                        if r["deleted_at"] is not None],
            "next_cursor": encode_cursor(rows[-1]["site"], rows[-1]["id"], upto)
            if more else None,
            "changes_cursor": f"{head.epoch}.{upto}.{fingerprint}",
            "full": since is None,
            "data_as_of": {n: _iso(states[n].last_success) if n in states else None
                           for n in sites if site is None or n == site}}
