"""The worker process: ``govcloud serve`` runs its background workers (``WORKERS``: sync,
provisioning, probes, protection, notifier, change windows, compaction) in a child process of
its own, so that a sync's parsing never holds the interpreter lock a ``/metrics`` scrape or an
API read waits for. The API process runs no worker; ``govcloud serve --workers inline`` runs
them in the API process as before (tests, debugging).

The parent (:class:`WorkerProcess`) starts the child — ``govcloud serve ... --worker-child``,
the same command — from a thread that lives as long as the child, tied to it by the kernel
(``govcloud.children.tied_to_parent``: SIGTERM when the parent dies, kill -9 too) and by its
standard input (end of file: the parent is gone); the child then exits at once, as the whole
control plane did when it was one process killed with -9 (its work is crash-safe). The parent
starts it again when it dies (after 1 s, doubling up to ``MAX_BACKOFF_S`` while it keeps dying
within ``YOUNG_S`` of its start). The two talk over pipes, one JSON object a line:

- parent → child (the child's stdin): first the setup (the replica identity the child works
  under, the SQLite lock's and the feed's descriptors), then ``{"wake": NAME}`` (a request
  approved, a message to retry: the worker looks now rather than at its next poll),
  ``{"sync": {id, sites, full}}`` (``POST /sync``: answered with ``{"synced": {id, report
  or error}}``) and ``{"stop": true}`` (stop cleanly: the parent is shutting down);
- child → parent (the *feed*, a descriptor of its own): ``{"metrics": SNAPSHOT}`` after each
  metrics snapshot the child builds (after every sync and probe round, and when the store
  changed: it looks every ``FEED_S``), which the API process then serves (``HeldSnapshots.
  hold``), and ``{"running": [NAMES]}`` when the workers running there change (what
  ``GET /status/replicas`` says runs here).

The child works under the parent's replica identity (id, pid): on PostgreSQL the leases it
takes are the replica's, and a child started again takes them back at once. On SQLite the
child inherits the parent's lock on the database (the same open file: ``flock`` sees one
holder), so a second ``govcloud serve`` is still refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from govcloud.children import tied_to_parent, works_for
from govcloud.errors import GovCloudError, PermanentError, TemporaryError, error_types
from govcloud.services.metrics_wire import snapshot_from_json, snapshot_json
from govcloud.services.plane import Plane
from govcloud.workers import IN_WORKER_PROCESS, WORKERS, start_workers

log = logging.getLogger(__name__)

CHILD_FLAG = "--worker-child"
FEED_S = 1.0             # how often the child looks for a changed store and running workers
RUNNING_S = 0.2          # how often the child looks at which workers run
READY_S = 60.0           # how long serve waits for its workers to start before it listens
FIRST_SNAPSHOT_S = 20.0  # how long the API's first scrape waits for the child's snapshot
MAX_BACKOFF_S = 30.0     # the longest wait before starting a dead child again
YOUNG_S = 60.0           # a child that ran less than this died young: wait longer next time
STOP_TIMEOUT_S = 100.0   # a clean stop (longer than the workers' own, LeaseKeeper's 90 s)
ORPHAN_CHECK_S = 1.0     # after a signal: how long to look whether the parent is gone
ORPHAN_GRACE_S = 10.0    # stopped by a signal: the workers get this long, then it exits
SYNC_TIMEOUT_S = 1800.0  # how long POST /sync waits for the worker process's sync
MAX_LINE = 64 << 20      # the longest line either side reads (a province's snapshot: ~1 MB)
WAKEABLE = {"provision": "provision_worker", "notifier": "notifier_worker"}


class _Wake:
    """What the API process's plane holds instead of a worker it can wake: the wake goes
    to the child."""

    def __init__(self, process: WorkerProcess, name: str) -> None:
        self.process, self.name = process, name

    def wake(self) -> None:
        self.process.send({"wake": self.name})


class _Pending:
    """A sync asked of the child, until it answers."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: dict[str, Any] | None = None
        self.error: GovCloudError | None = None


class WorkerProcess:
    """The API process's side: starts the worker child, starts it again when it dies,
    relays wakes to it and holds what it sends."""

    def __init__(self, plane: Plane, command: Sequence[str], *, lock_fd: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.plane = plane
        self.command = list(command)
        self.lock_fd = lock_fd
        self.env = env
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self.restarts = 0
        self.started_at: float | None = None
        self.last_exit: int | None = None
        self.snapshots = 0
        self._asked = 0
        self._pending: dict[int, _Pending] = {}
        self._ready = threading.Event()  # the first child said which workers it runs

    # --- what the API process sees ------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def view(self) -> dict[str, Any]:
        """What ``GET /status/replicas`` says of the worker process."""
        started = self.started_at
        return {"mode": "process", "pid": self.pid, "alive": self.pid is not None,
                "restarts": self.restarts, "last_exit": self.last_exit,
                "up_s": None if started is None or self.pid is None
                else round(time.time() - started, 1)}

    def send(self, message: dict[str, Any]) -> bool:
        """One line to the child (False: there is no child to take it now)."""
        data = (json.dumps(message) + "\n").encode()
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None:
                return False
            try:
                proc.stdin.write(data)
                proc.stdin.flush()
            except (OSError, ValueError):  # it died: the supervisor starts it again
                return False
        return True

    def sync(self, sites: Sequence[str] | None, *, full: bool,
             timeout: float = SYNC_TIMEOUT_S) -> dict[str, Any] | None:
        """Sync ``sites`` in the worker process (``POST /sync``: the parsing must not hold
        the API process's interpreter lock); the report's JSON, or None when there is no
        child to ask now (the caller syncs itself). An error the sync raises there is raised
        here, as the same class."""
        waiter = _Pending()
        with self._lock:
            self._asked += 1
            ask = self._asked
            self._pending[ask] = waiter
        try:
            if not self.send({"sync": {"id": ask, "full": full,
                                       "sites": None if sites is None else list(sites)}}):
                return None
            if not waiter.done.wait(timeout):
                raise TemporaryError(f"the worker process did not finish the sync in "
                                     f"{timeout:.0f} s", hint="see GET /sync/status")
        finally:
            with self._lock:
                self._pending.pop(ask, None)
        if waiter.error is not None:
            raise waiter.error
        return waiter.answer

    def _synced(self, message: Any) -> None:
        with self._lock:
            waiter = self._pending.get(int(message["id"]))
        if waiter is None:
            return
        error = message.get("error")
        if isinstance(error, dict):
            cls = error_types().get(str(error.get("type")), PermanentError)
            waiter.error = cls(str(error.get("message"))[:2000],
                               hint=None if error.get("hint") is None
                               else str(error["hint"])[:2000])
        else:
            waiter.answer = dict(message["report"])
        waiter.done.set()

    def _abandon(self) -> None:
        """The child ended: the syncs it was asked for fail (they may be asked again)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for waiter in pending.values():
            waiter.error = TemporaryError("the worker process ended during the sync",
                                          hint="it is started again; sync again")
            waiter.done.set()

    # --- starting, watching, stopping ---------------------------------------------------------

    def start(self) -> Callable[[], None]:
        """Start the child and the thread that keeps it running; the API process's plane
        runs no worker, takes its metrics snapshots from the child and wakes the child's
        workers. Returns the function that stops the child."""
        names = [w.name for w in WORKERS]
        self.plane.replicas.declare(names, [w.name for w in WORKERS
                                            if w.enabled(self.plane.settings)])
        self.plane.metrics.expect_feed(FIRST_SNAPSHOT_S)
        for name, attribute in WAKEABLE.items():
            setattr(self.plane, attribute, _Wake(self, name))
        self.plane.worker_process = self
        # the child is tied to the thread that starts it: this one, which outlives it
        self._thread = threading.Thread(target=self._supervise, name="govcloud-worker-process",
                                        daemon=True)
        self._thread.start()
        # serve listens once its workers run (or it gave up waiting), as when they ran inline
        if not self._ready.wait(READY_S):
            log.warning("worker process: its workers did not start within %.0f s; serving "
                        "meanwhile", READY_S)
        return self.stop

    def _setup(self, feed_fd: int) -> dict[str, Any]:
        replica = self.plane.replicas.replica
        return {"replica": replica.id, "pid": replica.pid,
                "started_at": replica.started_at.isoformat(), "lock_fd": self.lock_fd,
                "feed_fd": feed_fd}

    def _launch(self) -> tuple[subprocess.Popen[bytes], int]:
        read_fd, write_fd = os.pipe()
        fds = (write_fd,) if self.lock_fd is None else (write_fd, self.lock_fd)
        try:
            proc = subprocess.Popen(tied_to_parent(self.command), stdin=subprocess.PIPE,
                                    pass_fds=fds, env=self.env, start_new_session=True)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        assert proc.stdin is not None
        with contextlib.suppress(OSError):  # it died at once: reaped and started again
            proc.stdin.write((json.dumps(self._setup(write_fd)) + "\n").encode())
            proc.stdin.flush()
        return proc, read_fd

    def _supervise(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            try:
                proc, read_fd = self._launch()
            except Exception:  # cannot start it now: try again
                log.exception("worker process: could not start it")
                self._stopping.wait(delay)
                delay = min(MAX_BACKOFF_S, delay * 2)
                continue
            with self._lock:
                self._proc = proc
            if self._stopping.is_set():  # stop() came while it was being started
                self._ask_stop(proc)
            started = self.started_at = time.time()
            log.info("worker process %s started (restarts so far: %s)", proc.pid,
                     self.restarts)
            reader = threading.Thread(target=self._read, args=(read_fd,),
                                      name="govcloud-worker-feed", daemon=True)
            reader.start()
            code = proc.wait()
            reader.join(5.0)
            self.last_exit = code
            self.plane.replicas.replace_running(())
            self._abandon()
            if self._stopping.is_set():
                break
            if time.time() - started >= YOUNG_S:  # it ran a while: not dying in a loop
                delay = 1.0
            log.error("worker process %s ended (exit %s); starting it again in %.0f s",
                      proc.pid, code, delay)
            self.restarts += 1
            self._stopping.wait(delay)
            delay = min(MAX_BACKOFF_S, delay * 2)
        with self._lock:
            self._proc = None

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as feed:
            while True:
                line = feed.readline(MAX_LINE)
                if not line:
                    return
                try:
                    self._received(json.loads(line))
                except Exception:  # a bad line is logged, the next one read
                    log.exception("worker process: a message could not be read")

    def _received(self, message: Any) -> None:
        if not isinstance(message, dict):
            raise ValueError("not a message")
        if "metrics" in message:
            snap = snapshot_from_json(message["metrics"])
            self.plane.metrics.hold(snap)
            self.snapshots += 1
        if "running" in message:
            names = [str(n)[:64] for n in message["running"]]
            self.plane.replicas.replace_running(names)
            self._ready.set()
        if "synced" in message:
            self._synced(message["synced"])

    def _ask_stop(self, proc: subprocess.Popen[bytes]) -> None:
        self.send({"stop": True})
        with self._lock, contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Ask the child to stop cleanly (its workers stop, their leases go back), wait for
        it, kill it if it does not end within ``timeout``."""
        self._stopping.set()
        with self._lock:
            proc = self._proc
        if proc is not None:
            self._ask_stop(proc)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("worker process %s did not stop in %.0f s: killed", proc.pid,
                          timeout)
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(10.0)


# --- the child's side --------------------------------------------------------------------------

PARENT_POLL_S = 0.5


def watch_parent(parent: int, poll_s: float = PARENT_POLL_S) -> threading.Thread:
    """Exit this process at once when ``parent`` is no longer its parent (the kernel gave it
    to another when the parent died), whatever its other threads are doing: the last resort
    behind the death signal and the end of file on the parent's pipe, both of which a busy
    or starved worker child was seen to miss (it outlived a killed serve, holding its lock)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        log.error("worker process: govcloud serve %s is gone; exiting now", parent)
        os._exit(1)

    thread = threading.Thread(target=watch, name="govcloud-parent-watch", daemon=True)
    thread.start()
    return thread


def read_setup(stream: IO[bytes]) -> dict[str, Any]:
    """The first line the parent sends: the setup (see the module's docstring)."""
    line = stream.readline(64 << 10)
    if not line:
        raise SystemExit("worker process: no setup from the parent (it is gone)")
    setup = json.loads(line)
    if not isinstance(setup, dict) or not isinstance(setup.get("feed_fd"), int):
        raise SystemExit("worker process: a setup that is not one")
    return setup


class _Child:
    """The worker child: the workers under the parent's replica identity, the feed of
    metrics snapshots, the commands read from the parent."""

    def __init__(self, plane: Plane, feed: IO[bytes], commands: IO[bytes],
                 parent: int) -> None:
        self.plane = plane
        self.feed = feed
        self.commands = commands
        self.parent = parent
        self._send_lock = threading.Lock()
        self.done = threading.Event()
        self.clean = False
        self.orphaned = False
        self._running: list[str] | None = None

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        with self._send_lock:
            try:
                self.feed.write(data)
                self.feed.flush()
            except (OSError, ValueError):  # the parent is gone
                self._orphaned()

    def _orphaned(self) -> None:
        """The parent is gone: exit now, from whichever thread learnt it (the main thread may
        be blocked, e.g. starting workers on a database that is gone too, and would never
        get round to it: such a child was left running after a test's serve was killed)."""
        self.orphaned = True
        self.done.set()
        log.error("worker process: govcloud serve %s is gone; exiting now", self.parent)
        os._exit(1)

    def _signalled(self, *_: Any) -> None:
        """SIGTERM or SIGHUP: the kernel's, the parent having died, or someone's else."""
        if os.getppid() != self.parent:
            self._orphaned()
        self.done.set()

    def _settle_why(self) -> None:
        """A SIGTERM may be the kernel's death signal sent while the dying parent's other
        threads still exist (it is tied to the thread that started the child, and the child
        then belongs to a sibling thread for a moment): wait a little for the parent to be
        gone for good (its end of the pipe closes) before taking it for a request to stop."""
        deadline = time.monotonic() + ORPHAN_CHECK_S
        while not (self.clean or self.orphaned) and time.monotonic() < deadline:
            if os.getppid() != self.parent:
                self.orphaned = True
                return
            time.sleep(0.02)

    def _listen(self) -> None:
        """The parent's commands; end of file means the parent is gone."""
        while True:
            line = self.commands.readline(64 << 10)
            if not line:
                break
            try:
                command = json.loads(line)
            except ValueError:
                continue
            if not isinstance(command, dict):
                continue
            if command.get("stop"):
                self.clean = True
                self.done.set()
                return
            if isinstance(command.get("sync"), dict):
                threading.Thread(target=self._sync, args=(command["sync"],),
                                 name="govcloud-sync-asked", daemon=True).start()
                continue
            attribute = WAKEABLE.get(str(command.get("wake")))
            worker = getattr(self.plane, attribute, None) if attribute else None
            if worker is not None:
                worker.wake()
        self._orphaned()  # end of file without a stop: the parent is gone

    def _sync(self, asked: dict[str, Any]) -> None:
        """A sync the API process was asked for (``POST /sync``), answered with its report."""
        answer: dict[str, Any] = {"id": asked.get("id")}
        sites = asked.get("sites")
        try:
            report = self.plane.syncer.sync(
                None if sites is None else [str(s) for s in sites], full=bool(asked.get("full")))
            answer["report"] = report.to_dict()
        except GovCloudError as exc:
            answer["error"] = {"type": type(exc).__name__, "message": exc.message,
                               "hint": exc.hint}
        except Exception as exc:  # answered, so the request does not wait for its timeout
            log.exception("worker process: the sync asked for failed")
            answer["error"] = {"type": "PermanentError",
                               "message": f"unexpected {type(exc).__name__} in the sync"}
        self.send({"synced": answer})
        self.plane.metrics.refresh_soon()  # /metrics shows it at once (sent when built)
        self.plane.dr_posture.refresh_soon()

    def _watch(self) -> None:
        """Every ``FEED_S``: a new snapshot when the store changed (``current`` starts its
        build; ``on_built`` sends it)."""
        while not self.done.is_set():
            try:
                self.plane.metrics.current()
            except Exception:  # the database may be failing over: next time
                log.warning("worker process: no metrics snapshot", exc_info=True)
            self.done.wait(FEED_S)

    def _tell_running(self) -> None:
        """The running workers, whenever they change (never behind a snapshot's build)."""
        while not self.done.is_set():
            running = sorted(self.plane.replicas.running())
            if running != self._running:
                self._running = running
                self.send({"running": running})
            self.done.wait(RUNNING_S)

    def run(self) -> int:
        self.plane.metrics.on_built = lambda snap: self.send({"metrics": snapshot_json(snap)})
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._signalled)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it, in order
        threading.Thread(target=self._listen, name="govcloud-parent", daemon=True).start()
        if self.done.wait(0.2):  # told to stop while it was starting: no worker to start
            return 0
        stop = start_workers(self.plane, IN_WORKER_PROCESS)
        for target, name in ((self._tell_running, "govcloud-running"),
                             (self._watch, "govcloud-feed")):
            threading.Thread(target=target, name=name, daemon=True).start()
        while not self.done.wait(1.0):
            pass
        self._settle_why()
        if self.orphaned:  # the control plane died (kill -9 of serve): so does this, at once
            log.error("worker process: govcloud serve %s is gone; exiting now", self.parent)
            os._exit(1)
        stopper = threading.Thread(target=stop, name="govcloud-stop", daemon=True)
        stopper.start()
        stopper.join(STOP_TIMEOUT_S if self.clean else ORPHAN_GRACE_S)
        if stopper.is_alive():
            log.warning("worker process: workers still stopping; exiting")
            os._exit(0 if self.clean else 1)
        self.plane.clouds.close()
        return 0


def lower_priority(niceness: int) -> int:
    """Lower this process's scheduling priority by ``niceness`` (``worker_niceness``): every
    thread it has now and, as Linux threads inherit their creator's, every one started later;
    the niceness it then has. On a loaded machine the API process (and the database) then
    win the CPU from a sync's parsing: `GET /servers` during a full sync (issue 23)."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness <= 0:
        return current
    target = min(19, current + niceness)
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:  # no /proc: the calling thread (before the workers start theirs)
        threads = [0]
    for thread in threads:
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.setpriority(os.PRIO_PROCESS, thread, target)
    return target


def run_worker_child(plane: Plane, setup: dict[str, Any], commands: IO[bytes]) -> int:
    """Run ``plane``'s workers as the worker process of the ``govcloud serve`` that sent
    ``setup``, until it says stop or is gone; the exit code. It runs ``worker_niceness``
    nicer than the API process."""
    try:
        lower_priority(plane.settings.worker_niceness)
    except OSError as exc:  # not allowed here: it runs, at the API process's priority
        log.warning("worker process: cannot lower its priority: %s", exc)
    plane.replicas.act_for(str(setup["replica"]), int(setup["pid"]),
                           str(setup.get("started_at") or ""))
    works_for(int(setup["pid"]))
    with os.fdopen(int(setup["feed_fd"]), "wb") as feed:
        return _Child(plane, feed, commands, int(setup["pid"])).run()
