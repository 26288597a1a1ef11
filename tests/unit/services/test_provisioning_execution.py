"""What provisioning an approved request decides (govcloud/services/provisioning_execution.py),
in a real database, against a fake of the cloud adapter the service calls
(``govcloud.cloud.provision``, as tests/unit/services/test_tenancy.py fakes
``govcloud.cloud.tenancy``; openstacksdk is never reached):

- on success the servers are created once each in the system's server group, recorded active,
  written into the inventory, the request is done and its reservation released;
- a temporary cloud error is retried (an answer lost after the cloud created the server does not
  create a second one); one that outlasts the retries fails the request;
- a permanent error, or one server of several failing, fails the request with the cloud's
  message, deletes every server the request made and its server group (kept when other servers
  of the system are in it, or another request of the system is under way, or the settings keep
  failed servers), and releases the reservation;
- a server found by its key is adopted, not created again (one in ERROR fails the request);
- only approved (or resumed) requests are provisioned.
(Against the simulator: tests/integration/control/test_provisioning.py,
test_provision_crash.py and tests/integration/test_provision_adoption_sim.py.)"""

from __future__ import annotations

from collections.abc import Sequence

from govcloud.domain.provisioning import idempotency_key
from govcloud.errors import PermanentError, TemporaryError
from govcloud.services.provisioning_common import ProvisioningContext
from govcloud.services.provisioning_lifecycle import start
from govcloud.services.provisioning_requests import show, submit, submit_approved
from tests.unit.services import provisioning_fakes
from tests.unit.services.provisioning_fakes import (
    GROUP,
    FakeCloud,
    Server,
    approved,
    events,
    inventory_servers,
    provisioner,
)
from tests.unit.services.provisioning_setup import (
    ADMIN,
    OPERATOR,
    one_server,
    reserved_cores,
)

cloud, ctx = provisioning_fakes.cloud, provisioning_fakes.ctx  # fixtures


def prod_key(ctx: ProvisioningContext, rid: int, ordinal: int) -> str:
    """The idempotency key of server ``ordinal`` of request ``rid`` in PROD (this database's
    installation)."""
    return idempotency_key(rid, "PROD", ordinal, installation=ctx.installation)


def test_success_creates_each_server_once_and_finishes_the_request(
        ctx: ProvisioningContext, cloud: FakeCloud) -> None:
    rid = approved(ctx)
    assert reserved_cores(ctx.engine) != {}
    refreshed: list[Sequence[str]] = []
    out = provisioner(ctx, refreshed).run(rid)
    assert out is not None and out["state"] == "done"
    assert sorted((s.name, s.key, s.status) for s in cloud.servers.values()) == [
        ("app-vm-1", prod_key(ctx, rid, 1), "ACTIVE"),
        ("app-vm-2", prod_key(ctx, rid, 2), "ACTIVE")]
    [(site, name, policy, members)] = cloud.groups.values()
    assert (site, name, policy, members) == ("PROD", GROUP, "anti-affinity", set(cloud.servers))
    shown = show(ctx, ADMIN, rid)
    assert [(s["name"], s["status"], s["server_id"] in cloud.servers)
            for s in sorted(shown["servers"], key=lambda s: s["ordinal"])] == \
        [("app-vm-1", "active", True), ("app-vm-2", "active", True)]
    assert events(ctx, rid, "plan") == ["2 servers in PROD"]
    assert inventory_servers(ctx.engine) == sorted(cloud.servers)  # targeted refresh
    assert refreshed == [["PROD"]]
    assert reserved_cores(ctx.engine) == {}


def test_a_groups_members_in_a_site_are_scheduled_one_at_a_time(
        ctx: ProvisioningContext, cloud: FakeCloud) -> None:
    # Nova's scheduler sees a member's host only once the host claimed it: members booted
    # together may be sent to one host and fail anti-affinity's late check (seen on the
    # real cloud); the next member is created once the previous one is placed
    rid = approved(ctx, count=4)
    out = provisioner(ctx, concurrency=4).run(rid)
    assert out is not None and out["state"] == "done"
    assert cloud.most_unplaced == 1
    creates = [c for c in cloud.calls if c.startswith(("create:", "placed:"))]
    assert creates == [c for n in range(4) for c in
                       (f"create:{creates[2 * n][7:]}", f"placed:{creates[2 * n][7:]}")]


def test_a_temporary_error_is_retried_and_a_lost_answer_creates_no_second_server(
        ctx: ProvisioningContext, cloud: FakeCloud) -> None:
    rid = approved(ctx)
    cloud.faults["create:app-vm-1"] = [TemporaryError("site PROD: 503 Service Unavailable")]
    cloud.lose_answer.add("app-vm-2")  # created, but the answer timed out
    out = provisioner(ctx).run(rid)
    assert out is not None and out["state"] == "done"
    assert sorted(s.name for s in cloud.servers.values()) == ["app-vm-1", "app-vm-2"]
    assert cloud.calls.count("create:app-vm-1") == 2
    assert cloud.calls.count("create:app-vm-2") == 1  # the retry found it by its key
    retries = events(ctx, rid, "retry")
    assert sorted(m.split(";")[0] for m in retries) == [
        "site PROD: 503 Service Unavailable", "site PROD: creating app-vm-2: timed out"]
    assert all(m.endswith("retry 1 of 2 in 0.0 s") for m in retries)


def test_a_temporary_error_that_outlasts_the_retries_fails_the_request_and_cleans_up(
        ctx: ProvisioningContext, cloud: FakeCloud) -> None:
    rid = approved(ctx)
    cloud.faults["create:app-vm-2"] = [TemporaryError("site PROD: connection refused")] * 3
    out = provisioner(ctx).run(rid)
    assert out is not None
    assert (out["state"], out["error"]) == (
        "failed", "site PROD: connection refused (gave up after 3 attempts)")
    assert cloud.calls.count("create:app-vm-2") == 3  # the first try and 2 retries
    assert cloud.servers == {} and cloud.groups == {}  # app-vm-1 deleted, the group too
    servers = {s["name"]: s for s in show(ctx, ADMIN, rid)["servers"]}
    assert servers["app-vm-1"]["status"] == "deleted"
    assert (servers["app-vm-2"]["status"], servers["app-vm-2"]["error"]) == (
        "failed", "site PROD: connection refused (gave up after 3 attempts)")
    assert reserved_cores(ctx.engine) == {}


def test_a_permanent_error_on_one_of_several_fails_all_with_the_clouds_message(
        ctx: ProvisioningContext, cloud: FakeCloud) -> None:
    rid = approved(ctx, count=3)
    cloud.error_status.add("app-vm-2")
    out = provisioner(ctx).run(rid)
    assert out is not None and out["state"] == "failed"
    assert out["error"].startswith("site PROD: server ") and \
        out["error"].endswith(" went to ERROR: No valid host was found")
    assert cloud.calls.count("active:app-vm-2") == 1  # a permanent error is not retried
    assert cloud.servers == {} and cloud.groups == {}
    assert events(ctx, rid, "cleanup")[:1] == ["deleted 3 server(s) this request created"]
    assert events(ctx, rid, "cleanup")[-1].startswith(f"PROD: deleted server group {GROUP}")
    assert reserved_cores(ctx.engine) == {}


def test_several_failures_are_counted_in_the_error(ctx: ProvisioningContext,
                                                   cloud: FakeCloud) -> None:
    rid = approved(ctx, count=3)
    cloud.error_status.update({"app-vm-1", "app-vm-3"})
    out = provisioner(ctx).run(rid)
    assert out is not None and out["error"].endswith(" (and 1 more failures)")


def test_the_group_is_kept_while_other_servers_of_the_system_are_in_it(
        ctx: ProvisioningContext, cloud: FakeCloud) -> None:
    gid = cloud.ensure_group(None, "PROD", GROUP, "anti-affinity")
    cloud.groups[gid][3].add("older-server")  # a server of an earlier request of the system
    rid = approved(ctx, count=1)
    cloud.error_status.add("app-vm-1")
    assert provisioner(ctx).run(rid) is not None
    assert cloud.servers == {}
    assert cloud.groups[gid][3] == {"older-server"}
    assert events(ctx, rid, "cleanup")[-1] == \
        f"PROD: kept server group {GROUP} (1 other server(s) of the system in it)"


def test_the_group_is_kept_while_another_request_of_the_system_is_under_way(
        ctx: ProvisioningContext, cloud: FakeCloud) -> None:
    rid = approved(ctx, count=1)
    # the target of another host of the system, as migrations ask for them: waiting
    submit_approved(ctx, actor="migration", data=one_server("app"), approver="migration-gate")
    cloud.error_status.add("app-vm-1")
    assert provisioner(ctx).run(rid) is not None
    assert len(cloud.groups) == 1
    assert events(ctx, rid, "cleanup")[-1] == \
        f"kept server group {GROUP}: another request of the system is being provisioned"


def test_keep_failed_leaves_the_servers_for_inspection(ctx: ProvisioningContext,
                                                       cloud: FakeCloud) -> None:
    rid = approved(ctx)
    cloud.error_status.add("app-vm-1")
    out = provisioner(ctx, keep_failed=True).run(rid)
    assert out is not None and out["state"] == "failed"
    assert sorted(s.name for s in cloud.servers.values()) == ["app-vm-1", "app-vm-2"]
    assert len(cloud.groups) == 1
    assert events(ctx, rid, "cleanup") == [
        "keeping the servers for inspection (provision_keep_failed)"]
    assert reserved_cores(ctx.engine) == {}  # the reservation is released all the same


def test_a_server_found_by_its_key_is_adopted_and_one_in_error_fails(
        ctx: ProvisioningContext, cloud: FakeCloud) -> None:
    rid = approved(ctx)
    cloud.servers["old-1"] = Server("old-1", "PROD", "app-vm-1", prod_key(ctx, rid, 1),
                                    status="ACTIVE")
    out = provisioner(ctx).run(rid)
    assert out is not None and out["state"] == "done"
    assert "create:app-vm-1" not in cloud.calls and cloud.calls.count("create:app-vm-2") == 1
    assert len(cloud.servers) == 2
    assert [m.split(" (")[0] for m in events(ctx, rid, "adopted")] == \
        ["PROD: app-vm-1 exists already"]

    other = approved(ctx, count=1, system="db")
    cloud.servers["bad-1"] = Server("bad-1", "PROD", "db-vm-1", prod_key(ctx, other, 1),
                                    status="ERROR")
    out = provisioner(ctx).run(other)
    assert out is not None
    assert (out["state"], out["error"]) == (
        "failed", "site PROD: server bad-1 went to ERROR: no fault given")
    assert "create:db-vm-1" not in cloud.calls
    assert "bad-1" not in cloud.servers  # cleaned up as the request's own


def test_a_site_not_reached_fails_a_new_request_without_touching_the_cloud(
        ctx: ProvisioningContext, cloud: FakeCloud) -> None:
    rid = approved(ctx)
    cloud.faults["project:PROD"] = [PermanentError("site PROD: project p-psd: 403 Forbidden")]
    out = provisioner(ctx).run(rid)
    assert out is not None
    assert (out["state"], out["error"]) == ("failed", "site PROD: project p-psd: 403 Forbidden")
    assert not any(c.startswith(("create:", "delete")) for c in cloud.calls)
    assert events(ctx, rid, "cleanup")[-2:] == [
        "deleted 0 server(s) this request created",
        "could not reach PROD to look for leftovers"]
    assert reserved_cores(ctx.engine) == {}


def test_a_resumed_request_adopts_what_the_previous_worker_created(
        ctx: ProvisioningContext, cloud: FakeCloud) -> None:
    rid = approved(ctx)
    assert start(ctx, rid)  # a worker took it, created app-vm-1, and died
    cloud.servers["made-1"] = Server("made-1", "PROD", "app-vm-1", prod_key(ctx, rid, 1))
    out = provisioner(ctx).run(rid)
    assert out is not None and out["state"] == "done"
    assert events(ctx, rid, "resumed") != []
    assert "create:app-vm-1" not in cloud.calls
    assert "made-1" in cloud.servers and len(cloud.servers) == 2
    assert cloud.servers["made-1"].status == "ACTIVE"


def test_only_an_approved_or_resumed_request_is_provisioned(ctx: ProvisioningContext,
                                                            cloud: FakeCloud) -> None:
    waiting = submit(ctx, OPERATOR, one_server("waiting"))["id"]
    assert provisioner(ctx).run(waiting) is None
    rid = approved(ctx)
    assert provisioner(ctx).run(rid) is not None
    made = dict(cloud.servers)
    assert provisioner(ctx).run(rid) is None  # done: never again
    assert cloud.servers == made
    assert show(ctx, ADMIN, waiting)["state"] == "submitted"


def test_a_failed_inventory_refresh_leaves_the_request_done(ctx: ProvisioningContext,
                                                            cloud: FakeCloud) -> None:
    rid = approved(ctx)
    cloud.faults["read:PROD"] = [PermanentError("site PROD: reading new servers: 500")]
    out = provisioner(ctx).run(rid)
    assert out is not None and out["state"] == "done"
    assert inventory_servers(ctx.engine) == []
    assert events(ctx, rid, "inventory") == [
        "PROD: targeted refresh failed (site PROD: reading new servers: 500); "
        "the next sync adds them"]
