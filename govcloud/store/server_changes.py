"""The servers' change numbers: what lets a client list only the servers changed (or gone)
since it last looked, instead of every server again (``GET /servers?changed_since=``).

Every writer of ``server`` rows leaves the rows it really changed with ``change_seq`` NULL
(``upsert_servers_changed`` writes a row only when one of its columns differs, so a full sync
of an unchanged site changes nothing), then calls ``stamp`` just before it commits: that takes
the next number from the counter row (``server_change``) and gives it to every unstamped row.
The counter's row lock is held until the commit, so stamping transactions commit in the order
of their numbers and a reader that saw number N has seen everything up to N. A writer that
forgot to stamp leaves its rows NULL until the next stamp takes them along (late, never lost).

``horizon``: changes up to it can no longer be told apart — a purged tombstone (the deletion
it recorded is gone), a department mapping changed (servers moved between scopes) — so a
cursor older than the horizon gets a full listing instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    Select,
    Table,
    and_,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import BindParameter

from govcloud.store.tables import metadata

COUNTER = 1  # the counter's one row
CHUNK = 2000
KEYS = ("site", "id")


@dataclass(frozen=True, slots=True)
class ChangeHead:
    """The counter as a reader sees it: the newest number stamped, and the horizon."""

    epoch: str
    seq: int
    horizon: int


def _server() -> Table:
    return metadata.tables["server"]


def _counter() -> Table:
    return metadata.tables["server_change"]


def upsert_servers_changed(conn: Connection, rows: Sequence[Mapping[str, Any]], *,
                           since: tuple[str, str] | None = None) -> None:
    """Insert ``rows`` (each with ``change_seq`` None), and update a stored row only when one
    of its columns differs: an unchanged server keeps its row and its stamp. ``since`` (a
    time column and the column it times): the stored time is kept while the timed column
    keeps its value — and is no reason to update a row on its own."""
    if not rows:
        return
    srv = _server()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(srv)
    columns = [c.name for c in srv.columns if c.name not in KEYS and c.name != "change_seq"]
    values: dict[str, Any] = {name: stmt.excluded[name] for name in columns}
    compared = columns
    if since is not None:
        when, what = since
        values[when] = case((srv.c[what] == stmt.excluded[what],
                             func.coalesce(srv.c[when], stmt.excluded[when])),
                            else_=stmt.excluded[when])
        compared = [name for name in columns if name != when]
    stmt = stmt.on_conflict_do_update(
        index_elements=list(KEYS), set_={**values, "change_seq": None},
        where=or_(*[srv.c[name].is_distinct_from(stmt.excluded[name]) for name in compared]))
    for i in range(0, len(rows), CHUNK):
        conn.execute(stmt, [dict(r) for r in rows[i:i + CHUNK]])


def stamp(conn: Connection, *, horizon: bool = False) -> int | None:
    """Give every unstamped server row the next change number (in the caller's transaction,
    as its last write: the counter stays locked until the commit); with ``horizon``, move the
    horizon to it too. Returns the number, or None when there was nothing to stamp."""
    srv, ctr = _server(), _counter()
    if not horizon and not unstamped(conn):
        return None
    seq = conn.execute(update(ctr).where(ctr.c.id == COUNTER).values(seq=ctr.c.seq + 1)
                       .returning(ctr.c.seq)).scalar_one_or_none()
    if seq is None:  # a counter row lost: start again under a new epoch (cursors go stale)
        seq = 1
        conn.execute(insert(ctr).values(id=COUNTER, epoch=secrets.token_hex(8), seq=seq,
                                        horizon=seq))
    conn.execute(update(srv).where(srv.c.change_seq.is_(None)).values(change_seq=seq))
    if horizon:
        raise_horizon(conn, int(seq))
    return int(seq)


def raise_horizon(conn: Connection, seq: int) -> None:
    """Changes up to ``seq`` can no longer be listed one by one."""
    ctr = _counter()
    conn.execute(update(ctr).where(and_(ctr.c.id == COUNTER, ctr.c.horizon < seq))
                 .values(horizon=seq))


def purged_up_to(conn: Connection, where: Any) -> int:
    """The newest change number among the server rows ``where`` selects (0: none): what a
    purge of them must raise the horizon to."""
    srv = _server()
    return int(conn.execute(select(func.max(srv.c.change_seq)).where(where)).scalar() or 0)


def unstamped(conn: Connection) -> bool:
    """Whether a committed server row still waits for its change number (a writer that did
    not stamp): until the next stamp, the head does not tell that the servers changed."""
    srv = _server()
    return conn.execute(select(srv.c.id).where(srv.c.change_seq.is_(None)).limit(1)
                        ).first() is not None


def head(conn: Connection) -> ChangeHead:
    ctr = _counter()
    row = conn.execute(select(ctr.c.epoch, ctr.c.seq, ctr.c.horizon)
                       .where(ctr.c.id == COUNTER)).first()
    return ChangeHead("", 0, 0) if row is None else ChangeHead(row[0], int(row[1]), int(row[2]))


def scope_conditions(srv: Table, departments: Sequence[str] | BindParameter[Any] | None,
                     include_unmapped: bool, *, department: Any = None) -> list[Any]:
    """The conditions that keep server rows within a principal's scope: ``departments`` None
    means every department (or an expanding bound parameter, for a statement built once);
    ``include_unmapped`` adds servers of projects mapped to none. ``department``: the column
    to test (default ``srv.c.department``)."""
    column = srv.c.department if department is None else department
    if departments is not None:
        scope = column.in_(departments if isinstance(departments, BindParameter)
                           else list(departments))
        return [or_(scope, column.is_(None)) if include_unmapped else scope]
    return [] if include_unmapped else [column.is_not(None)]


def _unindexed(conn: Connection, column: Any) -> Any:
    """``column`` as SQLite's planner can use no index for (``column || ''``; the portable
    column elsewhere). SQLite keeps no statistics here, and given ``site = ?`` and ``ORDER
    BY site, id`` it walks the site's every row by primary key (17,000 at province scale,
    ~25 ms), or the department's by the listing's index, rather than the few rows in the
    ``change_seq`` range; PostgreSQL's planner
    weighs the range by its statistics and needs no help."""
    return column + "" if conn.dialect.name == "sqlite" else column


def changes_page(conn: Connection, *, departments: Sequence[str] | None,
                 include_unmapped: bool, site: str | None, since: int, upto: int,
                 after: tuple[str, str] | None, limit: int) -> Sequence[RowMapping]:
    """Server rows in scope stamped after ``since`` and up to ``upto`` — live ones and
    tombstones alike — ordered by (site, id) after the cursor ``after``."""
    q = changes_query(conn, departments=departments, include_unmapped=include_unmapped,
                      site=site, since=since, upto=upto, after=after, limit=limit)
    return conn.execute(q).mappings().all()


def changes_query(conn: Connection, *, departments: Sequence[str] | None,
                  include_unmapped: bool, site: str | None, since: int, upto: int,
                  after: tuple[str, str] | None, limit: int) -> Select[Any]:
    """``changes_page``'s statement. Its rows are found by their change number, whatever
    else narrows them (``_unindexed``): a refresh that changed nothing costs nothing."""
    srv = _server()
    at = _unindexed(conn, srv.c.site)
    conds: list[Any] = [srv.c.change_seq > since, srv.c.change_seq <= upto,
                        *scope_conditions(srv, departments, include_unmapped,
                                          department=_unindexed(conn, srv.c.department))]
    if site is not None:
        conds.append(at == site)
    if after is not None:
        conds.append(or_(at > after[0], and_(at == after[0], srv.c.id > after[1])))
    return select(srv).where(and_(*conds)).order_by(srv.c.site, srv.c.id).limit(limit)
