"""govcloud's engine on PostgreSQL finds its way back by itself: while the database is down a
query is ``DatabaseUnavailable`` (a temporary error naming the URL, never its password); once
it is back, the next query works — the pool's dead connections are replaced, not reported;
and a multi-host URL reaches whichever host takes writes."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from govcloud.errors import DatabaseUnavailable
from govcloud.store.engine import make_engine
from tests.integration.ha.cluster import Cluster
from tests.served import free_port

pytestmark = [pytest.mark.slow, pytest.mark.ha]


def test_the_engine_reconnects_after_a_restart(primary: Cluster) -> None:
    server = primary.primary
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    url = (f"postgresql://postgres:s3cret@{dead},127.0.0.1:{server.port}/govcloud"
           "?target_session_attrs=read-write&connect_timeout=2")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:  # the first host refuses: the second answers
            assert conn.execute(text("SELECT inet_server_port()")).scalar() == server.port
        server.stop("fast")
        with pytest.raises(DatabaseUnavailable) as info, engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert info.value.message.startswith(
            "cannot reach the database postgresql+psycopg://postgres:***@/govcloud?")
        assert "s3cret" not in info.value.message and info.value.exit_code == 75
        server.start()
        with engine.connect() as conn:  # the pooled connection was dead: replaced, no error
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
