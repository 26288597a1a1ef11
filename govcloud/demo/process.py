"""The simulator as a child process, reached only over HTTP (as a real cloud would be)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from govcloud.children import tied_to_parent
from govcloud.errors import PermanentError, TemporaryError

SIM_CLOUD = "govcloud-sim"


@dataclass(frozen=True, slots=True)
class SimInfo:
    """What the simulator wrote to its ready file."""

    base_url: str
    clouds_yaml: Path
    pid: int
    raw: dict[str, Any]


class SimProcess:
    """Start ``python -m govcloud.sim serve`` with its files in ``state_dir``; stop it again."""

    def __init__(self, *, state_dir: Path, scale: str = "province", seed: int | None = None,
                 python: str = sys.executable, extra_args: tuple[str, ...] = ()) -> None:
        self.state_dir = state_dir
        self.scale = scale
        self.seed = seed
        self.python = python
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def clouds_yaml(self) -> Path:
        return self.state_dir / "clouds.yaml"

    @property
    def ready_file(self) -> Path:
        return self.state_dir / "sim.ready"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "sim.log"

    def command(self) -> list[str]:
        cmd = [self.python, "-m", "govcloud.sim", "serve", "--port", "0", "--scale", self.scale,
               "--clouds-yaml", str(self.clouds_yaml), "--ready-file", str(self.ready_file)]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        return cmd + list(self.extra_args)

    def start(self) -> None:
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # clouds.yaml, db
        self.ready_file.unlink(missing_ok=True)
        self._log = open(self.log_file, "wb")  # noqa: SIM115 - closed in stop()
        # Own session: a Ctrl-C reaches govcloud only, which then stops the simulator itself;
        # tied to this process, so that it also ends when govcloud is killed (SIGKILL).
        self.proc = subprocess.Popen(tied_to_parent(self.command()), stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def _died(self) -> PermanentError:
        code = self.proc.returncode if self.proc else None
        tail = self.log_tail()
        message = f"the simulator exited with status {code}"
        if tail:
            message += "; the end of its log:\n" + tail
        return PermanentError(message, hint=f"full log: {self.log_file}")

    def wait_ready(self, *, timeout: float = 120.0,
                   progress: Callable[[float], None] | None = None,
                   poll: float = 0.1, clock: Callable[[], float] = time.monotonic) -> SimInfo:
        """Block until the ready file appears; raise with the log tail if the process dies."""
        if self.proc is None:
            raise PermanentError("the simulator was not started")
        started = clock()
        while True:
            if self.ready_file.exists():
                return self._read_ready()
            if self.proc.poll() is not None:
                raise self._died()
            elapsed = clock() - started
            if elapsed > timeout:
                raise TemporaryError(f"the simulator was not ready after {timeout:.0f}s",
                                     hint=f"see its log: {self.log_file}")
            if progress is not None:
                progress(elapsed)
            time.sleep(poll)

    def _read_ready(self) -> SimInfo:
        raw = json.loads(self.ready_file.read_text(encoding="utf-8"))
        return SimInfo(base_url=str(raw["base_url"]),
                       clouds_yaml=Path(raw.get("clouds_yaml") or self.clouds_yaml),
                       pid=int(raw.get("pid") or 0), raw=raw)

    def wait(self) -> int:
        """Block until the simulator exits by itself; returns its status."""
        if self.proc is None:
            raise PermanentError("the simulator was not started")
        return self.proc.wait()

    def died_error(self) -> PermanentError:
        return self._died()

    def stop(self, *, timeout: float = 10.0) -> int | None:
        """Ask the simulator to stop (SIGTERM), kill it if it does not; returns its status."""
        proc, self.proc = self.proc, None
        try:
            if proc is None:
                return None
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            return proc.returncode
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
            self.ready_file.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
