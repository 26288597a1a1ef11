"""The metric families govcloud exports: names, types, labels and help, in one place.

The collector (``monitors.collector``) emits exactly these; ``docs/metrics.md`` documents each
(a test keeps the two equal). Names follow the Prometheus conventions: the ``govcloud_``
prefix, base units (bytes, seconds), ``_total`` for counters. Labels come from small, bounded
sets (sites, departments, services, states): no per-server or per-host series. The DR families
have two per system (``govcloud_dr_rpo_seconds``, ``govcloud_dr_last_drill_timestamp_seconds``)
and none per copy or server: 5,000 systems stay within the province's 15,000 series
(docs/metrics.md, "Disaster recovery").
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
GIB = 1024 * MIB


@dataclass(frozen=True, slots=True)
class FamilySpec:
    name: str
    kind: str  # "gauge" or "counter" (name ends in _total)
    labels: tuple[str, ...]
    help: str


def _site_resources() -> list[FamilySpec]:
    out = []
    for res, unit, what in (("vcpu", "", "vCPUs"), ("memory", "_bytes", "RAM"),
                            ("disk", "_bytes", "local disk")):
        for fig, text in (
                ("capacity", "capacity after allocation ratio and reserved"),
                ("allocated", "allocated in Placement"),
                ("used", "held by ACTIVE servers"),
                ("free", "capacity minus allocated, summed per host"),
                ("headroom", "free on hypervisors that are up and enabled")):
            out.append(FamilySpec(f"govcloud_site_{res}_{fig}{unit}", "gauge", ("site",),
                                  f"{what} {text}, per site"))
    return out


FAMILIES: tuple[FamilySpec, ...] = (
    # --- sites
    FamilySpec("govcloud_site_info", "gauge", ("site", "role"), "a configured site (always 1)"),
    *_site_resources(),
    FamilySpec("govcloud_site_physical_cores", "gauge", ("site",),
               "physical CPUs (VCPU inventory totals), per site"),
    FamilySpec("govcloud_site_hypervisors", "gauge", ("site", "state", "status"),
               "hypervisors by state (up/down) and status (enabled/disabled)"),
    FamilySpec("govcloud_site_compute_services", "gauge", ("site", "binary", "state"),
               "Nova services by binary and state (up/down)"),
    FamilySpec("govcloud_site_flavor_headroom", "gauge", ("site", "flavor"),
               "how many more servers of a common flavor fit, host by host"),
    FamilySpec("govcloud_whatif_lose_site_fits", "gauge", ("lost_site",),
               "1 if every receiving site can take the failover load of losing lost_site"),
    FamilySpec("govcloud_whatif_shortfall_vcpu", "gauge", ("lost_site", "site"),
               "vCPUs missing in site to take its failover load if lost_site is lost"),
    FamilySpec("govcloud_whatif_shortfall_memory_bytes", "gauge", ("lost_site", "site"),
               "RAM missing in site to take its failover load if lost_site is lost"),
    FamilySpec("govcloud_whatif_shortfall_disk_bytes", "gauge", ("lost_site", "site"),
               "local disk missing in site to take its failover load if lost_site is lost"),
    # --- departments x sites
    FamilySpec("govcloud_department_quota_limit", "gauge", ("department", "site", "resource"),
               "quota limit (resource: cores, ram_bytes, instances, volumes, volume_bytes; "
               "unlimited quotas are left out, and sites where the department has no quota "
               "and uses none)"),
    FamilySpec("govcloud_department_quota_in_use", "gauge",
               ("department", "site", "resource"), "quota in use (same resources)"),
    FamilySpec("govcloud_department_servers", "gauge", ("department", "site", "status"),
               "live servers by status"),
    # --- sync
    FamilySpec("govcloud_sync_last_success_timestamp_seconds", "gauge", ("site",),
               "when the site's last successful sync started (Unix time)"),
    FamilySpec("govcloud_sync_last_attempt_timestamp_seconds", "gauge", ("site",),
               "when the site's last sync attempt started (Unix time)"),
    FamilySpec("govcloud_sync_last_duration_seconds", "gauge", ("site",),
               "how long the site's last sync attempt took"),
    FamilySpec("govcloud_sync_failing", "gauge", ("site", "reason"),
               "1 for the reason the site's last sync failed, 0 for the other reasons"),
    FamilySpec("govcloud_site_stale", "gauge", ("site",),
               "1 while the site's stored data is stale (last sync failed, or never synced)"),
    FamilySpec("govcloud_site_data_age_seconds", "gauge", ("site",),
               "seconds since the site's last successful sync (at scrape time)"),
    # --- probes
    FamilySpec("govcloud_probe_up", "gauge", ("site", "service"),
               "1 if the newest probe of the site's service API answered 2xx"),
    FamilySpec("govcloud_probe_latency_seconds", "gauge", ("site", "service"),
               "latency of the newest probe"),
    FamilySpec("govcloud_probe_timestamp_seconds", "gauge", ("site", "service"),
               "when the newest probe ran (Unix time)"),
    FamilySpec("govcloud_probe_consecutive_failures", "gauge", ("site", "service"),
               "failed probes in a row (0 when up)"),
    # --- requests and migrations (present once issues 5 and 6 are installed)
    FamilySpec("govcloud_requests", "gauge", ("state",), "provisioning requests by state"),
    FamilySpec("govcloud_migration_hosts", "gauge", ("wave", "step", "status"),
               "hosts of each migration wave by step and step status"),
    FamilySpec("govcloud_migration_step_failures", "gauge", ("wave",),
               "failed or interrupted steps in a migration wave"),
    FamilySpec("govcloud_migration_step_running_since_timestamp_seconds", "gauge",
               ("wave", "step"), "start of the oldest step still running (Unix time)"),
    # --- audit
    FamilySpec("govcloud_audit_chain_verified", "gauge", (),
               "1 if the audit hash chain verified at the last check"),
    FamilySpec("govcloud_audit_entries_total", "counter", (), "entries in the audit log"),
    FamilySpec("govcloud_audit_last_verify_timestamp_seconds", "gauge", (),
               "when the audit chain was last verified (Unix time)"),
    FamilySpec("govcloud_audit_checkpoint_seq", "gauge", (),
               "seq of the audit entry in the newest signed checkpoint (0: none yet)"),
    FamilySpec("govcloud_audit_checkpoint_timestamp_seconds", "gauge", (),
               "when the newest signed audit checkpoint was written (Unix time)"),
    # --- disaster recovery (the held DR posture, docs/dr.md): per system only the two below
    FamilySpec("govcloud_dr_rpo_seconds", "gauge", ("department", "system", "level"),
               "current RPO of the system's worst copy: now minus the oldest copy's recovery "
               "point (at scrape time; +Inf while a copy has none), per system with a plan "
               "that keeps copies"),
    FamilySpec("govcloud_dr_last_drill_timestamp_seconds", "gauge", ("department", "system"),
               "when the system's last drill started (Unix time), per drilled system"),
    FamilySpec("govcloud_dr_rpo_target_seconds", "gauge", ("level",),
               "target RPO of the systems of a DR level (the protection policy's)"),
    FamilySpec("govcloud_dr_rto_target_seconds", "gauge", ("level",),
               "target RTO of the systems of a DR level (the protection policy's)"),
    FamilySpec("govcloud_dr_systems", "gauge", ("department", "verdict"),
               "systems by verdict (compliant, at risk, non-compliant), per department"),
    FamilySpec("govcloud_dr_province_systems", "gauge", ("level", "verdict"),
               "systems of the province by DR level and verdict"),
    FamilySpec("govcloud_dr_copies", "gauge", ("site", "state"),
               "planned copies (a system's servers in one DR site) by state, per site"),
    FamilySpec("govcloud_dr_copies_missing", "gauge", ("department", "site"),
               "the department's systems whose copy in the site misses a server"),
    FamilySpec("govcloud_dr_drills_overdue", "gauge", ("department",),
               "the department's systems whose drill is overdue"),
    FamilySpec("govcloud_dr_drills_failing", "gauge", ("department",),
               "the department's systems whose last drill failed or recovered slower than "
               "the target RTO"),
    FamilySpec("govcloud_dr_copies_failing", "gauge", ("department",),
               "the department's DR copy servers whose last protection cycle failed or was "
               "partial"),
    FamilySpec("govcloud_dr_posture_timestamp_seconds", "gauge", (),
               "when the DR posture these figures come from was judged (Unix time)"),
    # --- the control plane itself
    FamilySpec("govcloud_build_info", "gauge", ("version", "python"),
               "the running govcloud (always 1)"),
    FamilySpec("govcloud_snapshot_timestamp_seconds", "gauge", (),
               "when the metrics snapshot was built (Unix time)"),
    FamilySpec("govcloud_snapshot_build_duration_seconds", "gauge", (),
               "how long building the metrics snapshot took"),
    FamilySpec("govcloud_scrape_duration_seconds", "gauge", (),
               "how long the previous scrape's collection took"),
)

BY_NAME = {f.name: f for f in FAMILIES}

# Quota resources exported, with their multiplier to base units and their label value.
QUOTA_RESOURCES: dict[str, tuple[str, int]] = {
    "cores": ("cores", 1), "ram": ("ram_bytes", MIB), "instances": ("instances", 1),
    "volumes": ("volumes", 1), "gigabytes": ("volume_bytes", GIB)}

COMMON_FLAVORS = 5  # flavor headroom for this many most used flavors
