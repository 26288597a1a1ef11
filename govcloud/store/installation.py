"""The installation row's SQL (``tables_installation``): read it, or make it when a database
lacks it."""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from govcloud.domain.provisioning import Installation
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow
from govcloud.store.tables_installation import InstallationRow
from govcloud.store.tables_provisioning import ProvisionRequestRow

log = logging.getLogger(__name__)

_TABLE = InstallationRow.__table__  # type: ignore[attr-defined]


def find_installation(engine: Engine) -> Installation | None:
    with engine.connect() as conn:
        row = conn.execute(select(_TABLE.c.installation_id, _TABLE.c.legacy_through)
                           .where(_TABLE.c.slot == 1)).first()
    return None if row is None else Installation(row.installation_id, row.legacy_through)


def get_installation(engine: Engine) -> Installation:
    """The installation; made now (as the migration makes it) in a database without one —
    concurrent makers agree, the first one's row wins."""
    found = find_installation(engine)
    if found is not None:
        return found
    try:
        with write_begin(engine) as conn:
            newest = conn.execute(select(func.coalesce(func.max(ProvisionRequestRow.id), 0))
                                  ).scalar_one()
            made = Installation(secrets.token_hex(6), int(newest))
            conn.execute(insert(_TABLE).values(slot=1, installation_id=made.id,
                                               legacy_through=made.legacy_through,
                                               created_at=utcnow()))
        log.warning("provisioning: this database had no installation id; made %s "
                    "(requests up to %d keep their keys)", made.id, made.legacy_through)
    except IntegrityError:
        pass  # another process made it first
    found = find_installation(engine)
    assert found is not None
    return found
