"""Run every benchmark under bench/ in turn; each prints its figures and appends them to
bench/results.md with the machine and date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["sim_bench.py", "inventory_bench.py", "sync_bench.py", "metrics_bench.py",
           "provision_bench.py", "migrate_bench.py", "tui_bench.py", "dr_posture_api_bench.py",
           "dr_drill_bench.py", "statements_bench.py", "ha_bench.py"]


def main() -> int:
    failed = 0
    for name in BENCHES:
        print(f"== {name}", flush=True)
        failed += subprocess.call([sys.executable, str(HERE / name), *sys.argv[1:]]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
