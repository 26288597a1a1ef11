"""This control-plane installation (revision 0024_installation, issue 23): one row, made once
with the database, whose id goes into every provisioning idempotency key
(``govcloud.domain.provisioning.Installation``, docs/provisioning.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel


class InstallationRow(SQLModel, table=True):
    """The installation: ``slot`` is always 1 (one row, however many writers race to make
    it), ``installation_id`` 12 hex digits, ``legacy_through`` the newest provisioning
    request submitted before installation ids (their keys carry none)."""

    __tablename__ = "installation"

    slot: int = Field(default=1, primary_key=True)
    installation_id: str = Field(max_length=32, unique=True)
    legacy_through: int = 0
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
