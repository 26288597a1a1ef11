"""Run the demo: simulator up, every site read back through openstacksdk, then wait."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import TextIO

from govcloud.demo.cities import sites_of
from govcloud.demo.process import SIM_CLOUD, SimProcess
from govcloud.demo.table import overview_rows, render_table
from govcloud.services.overview import SiteReader, openstack_reader, read_sites

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


STUCK_GRACE_S = 8.0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _last_resort(stop: Callable[[], None], grace_s: float) -> None:
    """After a stop signal, if the process is still here ``grace_s`` later (a console whose
    terminal is gone can block its own shutdown on a read of that terminal), stop the
    children with ``stop`` and end the process: nothing of the demo may outlive it."""
    time.sleep(grace_s)
    with suppress(OSError, ValueError):  # the terminal may be gone
        print(f"govcloud demo: still running {grace_s:.0f}s after the stop signal; stopping "
              "the control plane and the simulator and exiting", file=sys.stderr, flush=True)
    try:
        stop()
    finally:
        os._exit(0)


@contextmanager
def _stop_signals_interrupt(*, on_stuck: Callable[[], None] | None = None,
                            grace_s: float = STUCK_GRACE_S) -> Iterator[None]:
    """Ctrl-C (even when started with SIGINT ignored, as background jobs are), `kill <pid>`
    and a hang-up (the terminal closed, the SSH session dropped, `tmux kill-session`) all stop
    the demo cleanly, simulator included. With ``on_stuck``, the first stop signal also arms
    a last resort: if the process has not ended ``grace_s`` later, ``on_stuck`` stops the
    children and the process exits (docs/operator-guide.md)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    armed = threading.Event()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if on_stuck is not None and not armed.is_set():
            armed.set()
            threading.Thread(target=_last_resort, args=(on_stuck, grace_s), daemon=True,
                             name="demo-last-resort").start()
        _interrupt(signum, frame)

    previous = {sig: signal.signal(sig, interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _progress(err: TextIO, scale: str) -> Callable[[float], None]:
    last = [-1]

    def report(elapsed: float) -> None:
        step = int(elapsed) // 5
        if step != last[0]:
            last[0] = step
            print(f"  waiting for the simulator ({scale} scale)... {elapsed:.0f}s", file=err,
                  flush=True)

    return report


def run_demo(*, state_dir: Path, scale: str = "province", seed: int | None = None,
             as_json: bool = False, out: TextIO | None = None, err: TextIO | None = None,
             ready_timeout: float = 120.0, reader: SiteReader | None = None) -> int:
    """Start the simulator, print every site's summary, keep serving until interrupted."""
    # the streams there are now, not the ones there were when this module was imported
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    sim = SimProcess(state_dir=state_dir, scale=scale, seed=seed)
    with _stop_signals_interrupt():
        try:
            print(f"starting the simulator ({scale} scale); files in {state_dir}", file=err,
                  flush=True)
            started = time.monotonic()
            sim.start()
            info = sim.wait_ready(timeout=ready_timeout, progress=_progress(err, scale))
            print(f"simulator ready at {info.base_url} after {time.monotonic() - started:.1f}s;"
                  " reading every site through openstacksdk", file=err, flush=True)
            sites = sites_of(info.raw)
            overview = read_sites(sites, read=reader or openstack_reader(
                clouds_yaml=info.clouds_yaml))
            if as_json:
                json.dump({"simulator": {"base_url": info.base_url,
                                         "clouds_yaml": str(info.clouds_yaml), "scale": scale},
                           "sites": [o.to_dict() for o in overview]}, out, indent=2)
                print(file=out)
            else:
                print(render_table(overview_rows(overview)), file=out)
                print(f"\nclouds.yaml: {info.clouds_yaml}", file=out)
                print(f"  export OS_CLIENT_CONFIG_FILE={info.clouds_yaml} OS_CLOUD={SIM_CLOUD}",
                      file=out)
            out.flush()
            print(f"the simulator keeps running at {info.base_url}; press Ctrl-C to stop it",
                  file=err, flush=True)
            sim.wait()
            raise sim.died_error()
        except KeyboardInterrupt:
            print("\nstopping the simulator", file=err, flush=True)
            return 0
        finally:
            sim.stop()
