"""The openstack CLI (python-openstackclient, installed next to this Python) against the
simulator, for the simulator's tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

OPENSTACK = str(Path(sys.executable).with_name("openstack"))


def osc(sim: Any, *args: str, cloud: str = "govcloud-sim", region: str = "PROD",
        as_json: bool = True) -> Any:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml), "OS_CLOUD": cloud,
           "OS_REGION_NAME": region}
    cmd = [OPENSTACK, *args, *(["-f", "json"] if as_json else [])]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"openstack {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout) if as_json else None
