"""Real ``sshd`` sandboxes on loopback: each a non-daemon child with its own address in
127.0.0.0/8, port, host key, config, authorized_keys and data root — a "legacy host" or a
migration target: the demo's (and the tests' and ``bench/migrate_bench.py``'s) picture of a
machine reachable over SSH. Logins are as the current user, by key only.
"""

from __future__ import annotations

import getpass
import os
import random
import shlex
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from govcloud.children import tied_to_parent

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def make_key(path: Path, comment: str = "govcloud-test") -> Path:
    """An ed25519 key pair at ``path`` (private) and ``path.pub``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True)
    return path


def fingerprint_of(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], check=True, capture_output=True,
                         text=True).stdout
    return out.split()[1]


def free_address() -> tuple[str, int]:
    """A random loopback address (so hosts have distinct addresses) and a free port on it."""
    for _ in range(50):
        address = f"127.{random.randint(64, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
        with socket.socket() as s:
            try:
                s.bind((address, 0))
            except OSError:
                continue
            return address, s.getsockname()[1]
    raise RuntimeError("no free loopback address")


@dataclass
class Sandbox:
    """One sshd: ``root`` is the machine's filesystem prefix (govcloud_root)."""

    name: str
    base: Path
    client_pub: Path
    address: str = ""
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    # printed on stderr at every login, as a noisy shell profile does (tests: a step must not
    # take it for the command's output)
    login_stderr: str = ""
    host_key: Path = field(init=False)

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(exist_ok=True)
        self.host_key = self.base / "ssh_host_ed25519_key"
        if not self.host_key.exists():
            make_key(self.host_key, f"host-{self.name}")
        shutil.copy(self.client_pub, self.base / "authorized_keys")
        if not self.address:
            self.address, self.port = free_address()

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.host_key.with_suffix(".pub"))

    def new_host_key(self) -> None:
        for p in (self.host_key, self.host_key.with_suffix(".pub")):
            p.unlink()
        make_key(self.host_key, f"host-{self.name}-new")

    def start(self) -> Sandbox:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation dir
        config = self.base / "sshd_config"
        config.write_text(f"""Port {self.port}
ListenAddress {self.address}
HostKey {self.host_key}
PidFile none
AuthorizedKeysFile {self.base / 'authorized_keys'}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
MaxStartups 200:30:400
MaxSessions 100
LogLevel ERROR
Subsystem sftp internal-sftp
""")
        if self.login_stderr:
            with config.open("a") as f:
                f.write(f"ForceCommand echo {shlex.quote(self.login_stderr)} >&2; "
                        'eval "$SSH_ORIGINAL_COMMAND"\n')
        self.proc = subprocess.Popen(tied_to_parent([SSHD, "-D", "-e", "-f", str(config)]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd {self.name} exited with {self.proc.returncode}")
            try:
                with socket.create_connection((self.address, self.port), timeout=1) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd {self.name} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        self.proc = None

    def endpoint(self) -> dict[str, object]:
        """How to reach it, and its host key (what a cloud server's console log shows)."""
        return {"address": self.address, "port": self.port, "user": getpass.getuser(),
                "root": str(self.root), "host_keys": [self.public_host_key]}

    @property
    def public_host_key(self) -> str:
        """``TYPE BASE64`` of the host key sshd presents (its .pub, comment left out)."""
        return " ".join(self.host_key.with_suffix(".pub").read_text().split()[:2])


def service_vars(name: str) -> dict[str, str]:
    """A sandbox 'service': running while its marker file exists under the host's root."""
    marker = f"$GOVCLOUD_ROOT/run/{name}.running"
    return {"govcloud_service": name,
            "govcloud_service_stop": f"rm -f {marker}",
            "govcloud_service_start": f"mkdir -p $GOVCLOUD_ROOT/run && touch {marker}",
            "govcloud_health_check": f"test -f {marker}"}


def write_files(root: Path, rel: str, files: dict[str, bytes]) -> None:
    base = root / rel.lstrip("/")
    for name, data in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
