#!/usr/bin/env python3
"""The mutation gate: break each promise on purpose and check that the tests notice.

Each entry of ``MUTATIONS`` names a promise's critical line: a file, an exact source snippet
(it must occur exactly once in that file), what to replace it with, and the pytest node ids
of the tests that guard it. The gate copies the tree (git's tracked and untracked-but-not-
ignored files) to a temporary directory — never touching the real tree — and for each entry
in turn: writes the mutated file into the copy, runs only the guarding tests there (``-x``,
in their written order), and puts the file back. A mutation is

- **killed** when a guarding test fails (pytest exit 1 with failures) — what we want;
- **survived** when they all pass — the gate fails: the promise is not proven;
- an **error** when the snippet is not found (or found twice), a test id is unknown, a
  guarding test was skipped (a PostgreSQL test without ``GOVCLOUD_TEST_DATABASE_URL``), or
  pytest could not run — the gate fails too, so the list stays true as the code changes.

Usage::

    scripts/mutation_gate.py              # every mutation (CI: .ci/run, `make mutation-gate`)
    scripts/mutation_gate.py --list       # the list, with the guarding tests
    scripts/mutation_gate.py --only NAME  # one (repeatable), e.g. while writing its test
    scripts/mutation_gate.py --tree DIR   # gate another checkout (default: this script's)
    scripts/mutation_gate.py -v           # and show how each killing test failed
    scripts/mutation_gate.py -j 2         # two mutations at a time (two copies)

docs/testing.md says what each promise's proof is and how to add a mutation.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

PG_ENV = "GOVCLOUD_TEST_DATABASE_URL"
TIMEOUT_S = 600  # one mutation's tests; past it the mutation counts as an error

XPROC = "tests/integration/test_reservations_across_processes.py"
RESERVATIONS = "tests/integration/test_provision_reservations.py"
SCOPED = "tests/integration/control/test_scoped_migration.py"
ROLLBACK = ("tests/integration/migrate/test_rollback_changes.py"
            "::test_a_rollback_brings_back_every_change_on_every_host")
DR_POSTURE = "tests/integration/control/test_dr_posture_api.py"
SCOPED_WHO = ("department-viewer@gd-tax", "city-operator@guangzhou")  # a provincial department


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # relative to the tree
    snippet: str  # exact source text, found exactly once in ``file``
    replacement: str
    tests: tuple[str, ...]  # pytest node ids that must fail on the mutated code
    why: str  # the promise it breaks, in one line


MUTATIONS: tuple[Mutation, ...] = (
    # --- reservations never over-commit (docs/testing.md, "Over-commit") --------------------
    Mutation(
        "ledger-for-update", "govcloud/store/provisioning.py",
        '(" FOR UPDATE OF reservation_ledger"', '(""',
        (f"{XPROC}::test_fifty_approvers_in_five_processes_against_room_for_ten"
         "[postgresql-quota]",),
        "approvals lock the ledger rows before reading them (PostgreSQL)"),
    Mutation(
        "requests-for-update", "govcloud/store/provisioning.py",
        'lock = " FOR UPDATE" if dialect.name == "postgresql" else ""', 'lock = ""',
        (f"{XPROC}::test_each_request_approved_once_when_every_process_approves_it"
         "[postgresql]",),
        "approvals lock their request rows before reading their state (PostgreSQL)"),
    Mutation(
        "release-ledger-for-update", "govcloud/store/provisioning.py",
        ".order_by(c.site, c.department).with_for_update())",
        ".order_by(c.site, c.department))",
        (f"{XPROC}::test_cancels_submits_and_approvals_at_once_keep_the_books[postgresql]",),
        "a release (cancel, reject, fail, done) locks the ledger rows it rewrites"),
    Mutation(
        "release-request-for-update", "govcloud/store/provisioning.py",
        ".with_for_update()).one_or_none()", ").one_or_none()",
        (f"{XPROC}::test_cancels_submits_and_approvals_at_once_keep_the_books[postgresql]",),
        "a cancel locks its request row before reading its state (PostgreSQL)"),
    Mutation(
        "approval-audit-advisory-lock", "govcloud/store/provisioning.py",
        '"lock": f"SELECT pg_advisory_xact_lock({int(PG_AUDIT_LOCK)})" if pg else "",',
        '"lock": "",',
        (f"{XPROC}::test_cancels_submits_and_approvals_at_once_keep_the_books[postgresql]",),
        "approvals take the audit log's lock before reading its head (PostgreSQL)"),
    Mutation(
        "sqlite-begin-immediate", "govcloud/store/engine.py",
        'conn.exec_driver_sql(f"BEGIN {mode}".strip())', 'conn.exec_driver_sql("BEGIN")',
        ("tests/integration/test_sqlite_writers.py"
         "::test_a_writer_that_read_first_waits_for_no_one_and_is_not_overtaken",
         f"{XPROC}::test_fifty_approvers_in_five_processes_against_room_for_ten"
         "[sqlite-quota]"),
        "SQLite writers take the write lock first, so they wait their turn, never fail"),
    Mutation(
        "audit-append-advisory-lock", "govcloud/store/audit.py",
        '        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(key)})")',
        "        pass",
        ("tests/integration/test_audit_store.py"
         "::test_processes_appending_at_once_make_one_chain[postgresql]",),
        "audit appends (submit, cancel, ...) take the log's lock before reading its head"),
    # --- the audit chain (docs/security.md) ---------------------------------------------------
    Mutation(
        "audit-hash-check", "govcloud/domain/audit.py",
        "if recomputed_hash(e) != e.hash:", "if False:",
        ("tests/integration/test_audit_store.py::test_an_edited_row_is_found",),
        "verify recomputes every entry's hash: an edited entry is found"),
    Mutation(
        "audit-link-check", "govcloud/domain/audit.py",
        "if e.prev_hash != prev.hash:", "if False:",
        ("tests/unit/test_audit_chain.py::test_a_rewritten_entry_is_found_when_anchored",),
        "verify checks every entry chains to the one before (a rewritten, rehashed entry)"),
    # --- requester ≠ approver -------------------------------------------------------------------
    Mutation(
        "requester-not-approver", "govcloud/domain/rbac.py",
        "if same_person(principal.person, requester_person):", "if False:",
        (f"{RESERVATIONS}::test_rules_of_deciding[sqlite]",),
        "nobody approves a request they (as a person) submitted"),
    # --- provisioning is idempotent ---------------------------------------------------------------
    Mutation(
        "idempotency-key-adoption", "govcloud/cloud/provision.py",
        "    if not found:\n        return None\n    found.sort(",
        "    if True:\n        return None\n    found.sort(",
        ("tests/integration/test_provision_adoption_sim.py"
         "::test_a_server_is_found_by_its_idempotency_key_and_only_by_it",
         "tests/integration/control/test_provision_crash.py"
         "::test_kill_9_between_create_and_record_then_restart_adopts[sqlite]"),
        "a restarted worker adopts the server an earlier attempt created, by its key"),
    Mutation(
        "installation-in-key", "govcloud/domain/provisioning.py",
        'return key if installation.predates(request_id) else f"{key}@{installation.id}"',
        "return key",
        ("tests/integration/control/test_two_installations.py"
         "::test_same_request_number_in_two_installations_adopts_nothing[sqlite]",),
        "two installations sharing a cloud never adopt each other's servers"),
    # --- a target's host key is the one its cloud shows (docs/migration.md) ---------------------
    Mutation(
        "target-key-pinned", "govcloud/services/migration_keys.py",
        "if expected is not None and presented.fingerprint not in expected.fingerprints:",
        "if False:",
        ("tests/integration/migrate/test_target_keys.py"
         "::test_a_key_the_console_log_does_not_show_is_refused_and_nothing_changes[sqlite]",),
        "a new target presenting a key its console log does not show is refused"),
    # --- DR's guests' host keys are the ones their cloud shows (docs/dr.md, Host keys) ---------
    Mutation(
        "dr-key-pinned", "govcloud/services/protection_cycle.py",
        "pin_server(check, ep, CloudServer(conn, site, server_id), booted=booted)",
        "None",
        ("tests/integration/dr/test_protect_host_keys.py"
         "::test_a_production_guest_whose_console_shows_another_key_is_refused[sqlite]",),
        "a protection cycle refuses a guest presenting a key its console log does not show"),
    # --- a cancel ends what the step left on the hosts (docs/migration.md) ----------------------
    Mutation(
        "cancel-ends-remote", "govcloud/services/migration_run.py",
        'if result.status in ("canceled", "timeout"):', "if False:",
        ("tests/integration/migrate/test_wave_faults.py"
         "::test_cancel_from_another_thread_interrupts_and_the_rerun_completes[sqlite]",),
        "cancelling a wave ends the hung command on the host, and says what it ended"),
    # --- a rollback loses nothing (docs/migration.md) -----------------------------------------
    Mutation(
        "rollback-sync-back", "govcloud/services/migration_commands.py",
        '*(("--checksum",) if checksum else ())', '*(("--ignore-existing",) if checksum else ())',
        (f"{ROLLBACK}[sqlite]",
         "tests/integration/migrate/test_wave_run.py"
         "::test_a_wave_runs_end_to_end_and_rolls_back",),
        "the sync back copies every file the target added or edited (not only new ones)"),
    Mutation(
        "rollback-sync-back-delete", "govcloud/services/migration_commands.py",
        '*(("--checksum",) if checksum else ()), "--delete",',
        '*(("--checksum",) if checksum else ("--delete",)),',
        (f"{ROLLBACK}[sqlite]",),
        "the sync back deletes on the legacy host what the target deleted or renamed"),
    # --- role scoping of list endpoints ---------------------------------------------------------
    Mutation(
        "scope-servers", "govcloud/services/server_listing.py",
        "departments = scope.departments\n        if department is not None:",
        "departments = None\n        if department is not None:",
        ("tests/integration/control/test_inventory_api.py"
         "::test_a_department_viewer_sees_only_its_department",),
        "GET /servers lists only the caller's departments' servers"),
    Mutation(
        "scope-departments", "govcloud/api/routes_tenancy.py",
        "shown = visible(principal, catalogue, Action.VIEW_DEPARTMENT)",
        "shown = list(catalogue)",
        ("tests/integration/control/test_tenancy_rbac.py"
         "::test_department_viewer_sees_only_its_department",),
        "GET /departments lists only the caller's departments"),
    Mutation(
        "scope-requests", "govcloud/services/provisioning_requests.py",
        "codes = visible_codes(principal, ctx.catalogue(), Action.VIEW_DEPARTMENT)",
        "codes = None",
        (f"{RESERVATIONS}::test_rules_of_deciding[sqlite]",),
        "GET /requests lists only the caller's departments' requests"),
    Mutation(
        "scope-audit", "govcloud/api/routes_principals.py",
        "departments: list[str] | None = visible_codes(principal, catalogue, "
        "Action.VIEW_AUDIT)",
        "departments: list[str] | None = None",
        ("tests/integration/control/test_tenancy_rbac.py"
         "::test_city_operator_sees_and_changes_only_its_city",),
        "GET /audit lists only the entries of the caller's departments"),
    Mutation(
        "scope-hosts", "govcloud/services/migration_access.py",
        'service.list_hosts(engine, department=department, departments=codes)',
        'service.list_hosts(engine, department=department, departments=None)',
        tuple(f"{SCOPED}::test_a_list_shows_exactly_the_departments_the_caller_may_view"
              f"[sqlite-hosts-{who}]" for who in SCOPED_WHO),
        "GET /hosts lists only the caller's departments' legacy hosts"),
    Mutation(
        "scope-inventory", "govcloud/services/migration_access.py",
        "service.dynamic_inventory(engine, settings, departments=codes)",
        "service.dynamic_inventory(engine, settings, departments=None)",
        tuple(f"{SCOPED}::test_a_list_shows_exactly_the_departments_the_caller_may_view"
              f"[sqlite-inventory-{who}]" for who in SCOPED_WHO),
        "GET /inventory (Ansible) holds only the caller's departments' hosts"),
    Mutation(
        "scope-waves", "govcloud/services/migration_access.py",
        "if codes is None or w.department in codes]", "if True]",
        tuple(f"{SCOPED}::test_a_list_shows_exactly_the_departments_the_caller_may_view"
              f"[sqlite-waves-{who}]" for who in SCOPED_WHO),
        "GET /migrate/waves lists only the caller's departments' waves"),
    Mutation(
        "scope-dr-posture", "govcloud/services/access.py",
        "if department is not None else visible_codes(principal, catalogue, action)",
        "if department is not None else None",
        tuple(f"{DR_POSTURE}::test_each_role_sees_its_scope[sqlite-{who}]"
              for who in ("department-viewer@gd-tax", "city-operator@shenzhen")),
        "GET /dr/posture shows only the caller's departments' systems"),
    Mutation(
        "scope-dr-posture-city", "govcloud/services/access.py",
        "    if not in_city:\n        raise no_city(city)\n", "",
        (f"{DR_POSTURE}::test_a_hidden_department_or_city_is_answered_as_an_unknown_one"
         "[sqlite]",),
        "GET /dr/posture?city= of a city the caller may not see is 404, as an unknown one"),
)


SURVIVAL_ATTEMPTS = 3


def tree_files(tree: Path) -> list[str]:
    """The tree's files as CI checks them out: tracked, plus untracked ones not ignored."""
    out = subprocess.run(["git", "-C", str(tree), "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard"], check=True, capture_output=True).stdout
    return sorted({p for p in out.decode().split("\0") if p and (tree / p).is_file()})


def copy_tree(tree: Path, dest: Path) -> None:
    for rel in tree_files(tree):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tree / rel, target)


def child_env(copy: Path) -> dict[str, str]:
    """The copy's code first on every Python path, for pytest and the processes it starts
    (the editable install points at the real tree)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def check_imports_copy(copy: Path) -> None:
    found = subprocess.run([sys.executable, "-c", "import govcloud; print(govcloud.__file__)"],
                           cwd=copy, env=child_env(copy), capture_output=True, text=True,
                           check=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(copy.resolve()):
        sys.exit(f"mutation gate: the copy imports govcloud from {found}, not from {copy}")


def apply(copy: Path, m: Mutation) -> str:
    """Mutate ``m.file`` in the copy; return its original text. Exits (gate error) when the
    snippet is not there exactly once."""
    path = copy / m.file
    if not path.is_file():
        raise LookupError(f"{m.file} does not exist")
    text = path.read_text()
    count = text.count(m.snippet)
    if count != 1:
        raise LookupError(f"the snippet occurs {count} times in {m.file} (must be once): "
                          f"{m.snippet!r}")
    path.write_text(text.replace(m.snippet, m.replacement))
    return text


_SUMMARY = re.compile(r"^=* ?(\d+ [a-z]+.*?) in [\d.]+s", re.M)  # "1 failed, 2 passed in 3s"


def run_tests(copy: Path, m: Mutation, *, verbose: bool = False) -> tuple[str, str]:
    """(outcome, detail): killed, survived or error; ``verbose``: the detail ends with the
    tail of pytest's output (why the test failed)."""
    if any("[postgresql" in t for t in m.tests) and not os.environ.get(PG_ENV):
        return "error", f"its tests need PostgreSQL: set {PG_ENV}"
    cmd = [sys.executable, "-m", "pytest", *m.tests, "-x", "-q", "--no-header", "-rfEs",
           "-p", "no:randomly", "-p", "no:cacheprovider"]
    try:
        done = subprocess.run(cmd, cwd=copy, env=child_env(copy), capture_output=True,
                              text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "error", f"its tests ran longer than {TIMEOUT_S} s"
    out = done.stdout + done.stderr
    lines = out.strip().splitlines()
    summary = _SUMMARY.findall(out)
    last = summary[-1].strip() if summary else (lines[-1] if lines else "")
    if done.returncode == 1 and "failed" in last:
        failed = [line for line in lines if line.startswith("FAILED ")]
        detail = failed[0][7:] if failed else last
        return "killed", detail + ("\n" + "\n".join(lines[-40:]) if verbose else "")
    if done.returncode == 0 and "skipped" not in last:
        return "survived", last
    return "error", f"pytest exit {done.returncode}: {last}\n" + "\n".join(lines[-15:])


def _children_cpu() -> float:
    """CPU seconds (user + system) of the processes this one started and waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--only", action="append", metavar="NAME", default=[])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                        help="mutations run at once, each in a copy of its own (default 1)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="show why each killed mutation's test failed")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    unknown = set(args.only) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"unknown mutation(s): {', '.join(sorted(unknown))}")
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.why}\n  {m.file}: {m.snippet!r} -> {m.replacement!r}")
            for t in m.tests:
                print(f"  guarded by {t}")
        return 0
    started = time.monotonic()
    results: list[tuple[str, str]] = []
    jobs = max(1, min(args.jobs, len(chosen)))
    with tempfile.TemporaryDirectory(prefix="govcloud-mutants-") as tmp:
        copies: queue.Queue[Path] = queue.Queue()
        for j in range(jobs):  # one copy per job: a mutation never sees another's
            copy = Path(tmp) / f"tree-{j + 1}"
            copy_tree(args.tree.resolve(), copy)
            check_imports_copy(copy)
            copies.put(copy)
        print(f"mutation gate: {len(chosen)} mutation(s) of {args.tree}, {jobs} at a time, "
              f"in copies under {tmp}", flush=True)

        def one(m: Mutation) -> tuple[str, str, float]:
            copy, t0 = copies.get(), time.monotonic()
            try:
                original = apply(copy, m)
            except LookupError as exc:
                copies.put(copy)
                return "error", str(exc), time.monotonic() - t0
            try:
                # some guards catch a race (processes approving at once): a mutation survives
                # only when every attempt passes, so a race that did not happen once is retried
                for attempt in range(1, SURVIVAL_ATTEMPTS + 1):
                    outcome, detail = run_tests(copy, m, verbose=args.verbose)
                    if outcome != "survived":
                        break
                    detail = f"{detail} (in each of {attempt} attempts)"
            finally:
                (copy / m.file).write_text(original)
                copies.put(copy)
            return outcome, detail, time.monotonic() - t0

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            running = {pool.submit(one, m): m for m in chosen}
            for n, done in enumerate(as_completed(running), 1):
                m = running[done]
                outcome, detail, seconds = done.result()
                results.append((m.name, outcome))
                print(f"[{n}/{len(chosen)}] {m.name}: {outcome.upper()} in {seconds:.1f} s "
                      f"— {detail}", flush=True)
    bad = [(n, o) for n, o in results if o != "killed"]
    total = time.monotonic() - started
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    if bad:
        print(f"mutation gate FAILED in {total:.0f} s: "
              + ", ".join(f"{n} {o}" for n, o in bad), file=sys.stderr)
        return 1
    print(f"mutation gate: all {len(results)} mutations killed in {total:.0f} s "
          f"(CPU {_children_cpu():.0f} s; load average {load})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
