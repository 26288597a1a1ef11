"""Retention and change tables (revision 0025_retention, issue 23): the servers' change
counter, which lets a client list only the servers changed since it last looked
(``GET /servers?changed_since=``), and the indexes the compaction deletes by."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index
from sqlmodel import Field, SQLModel

from govcloud.store.tables import metadata
from govcloud.store.tables_hosts import HostDrainEventRow
from govcloud.store.tables_migration import MigrationEventRow
from govcloud.store.tables_provisioning import ProvisionEventRow


class ServerChangeRow(SQLModel, table=True):
    """The one row (``id`` 1) of the servers' change counter. Every transaction that changes
    server rows stamps them with the next ``seq`` just before it commits (the counter's row
    lock orders those transactions, so a reader never sees a lower number commit after a
    higher one). ``horizon``: changes up to it can no longer be told apart (a tombstone
    purged, a department mapping changed), so a cursor older than it gets a full listing.
    ``epoch`` is made with the database: a cursor of another database is unknown here."""

    __tablename__ = "server_change"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    epoch: str = Field(max_length=32)
    seq: int = Field(default=0, sa_type=BigInteger)
    horizon: int = Field(default=0, sa_type=BigInteger)


# the compaction deletes events by age: without these it would read every event to find them
EVENT_INDEXES = (
    Index("ix_provision_event_at", metadata.tables[ProvisionEventRow.__tablename__].c.at),
    Index("ix_migration_event_at", metadata.tables[MigrationEventRow.__tablename__].c.at),
    Index("ix_host_drain_event_at", metadata.tables[HostDrainEventRow.__tablename__].c.at),
)
