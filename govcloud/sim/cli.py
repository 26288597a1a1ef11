"""``python -m govcloud.sim`` / ``govcloud sim``: serve the simulator or steer its faults."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from typing import Any

from govcloud.sim.http import Faults
from govcloud.sim.seed import SCALES


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="govcloud sim", description=(
        "A simulated three-site OpenStack cloud (and, at the cities scales, the city clouds "
        "beside it, each with its own Keystone)."))
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="seed and serve the simulated cloud")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    s.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    s.add_argument("--scale", choices=sorted(SCALES), default="province")
    s.add_argument("--seed", type=int, default=42, help="seed for deterministic data")
    s.add_argument("--clouds-yaml", help="write a clouds.yaml here")
    s.add_argument("--ready-file", help="write JSON {base_url, ...} here once serving")
    s.add_argument("--functional-clouds", action=argparse.BooleanOptionalAction, default=True,
                   help="also write the devstack* clouds openstacksdk's functional tests use")
    s.add_argument("--build-delay", type=float, default=1.0,
                   help="seconds a new server stays in BUILD")
    s.add_argument("--admin-password", default=os.environ.get("GOVCLOUD_SIM_ADMIN_PASSWORD",
                                                              "govcloud-admin"))
    s.add_argument("--latency-ms", type=float, default=0.0)
    s.add_argument("--jitter-ms", type=float, default=0.0)
    s.add_argument("--error-rate", type=float, default=0.0,
                   help="probability of a random 503 per request")
    s.add_argument("--log-level", default="WARNING")

    f = sub.add_parser("faults", help="show or change fault knobs of a running simulator")
    f.add_argument("--url", required=True, help="simulator base URL, e.g. http://127.0.0.1:8774")
    f.add_argument("--latency-ms", type=float)
    f.add_argument("--jitter-ms", type=float)
    f.add_argument("--error-rate", type=float)
    f.add_argument("--json", action="store_true")

    for verb in ("down", "up"):
        r = sub.add_parser(f"region-{verb}", help=f"take a region {verb}")
        r.add_argument("region")
        r.add_argument("--url", required=True)
        r.add_argument("--json", action="store_true")
    return p


def _call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    if not url.startswith(("http://", "https://")):
        raise SystemExit(f"error: --url must be an http(s) URL, got {url!r}\n"
                         "hint: use the base URL the simulator printed, e.g. "
                         "http://127.0.0.1:8774")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,  # noqa: S310 - checked above
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - http(s) checked
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"error: simulator answered {exc.code}: "
                         f"{exc.read().decode()[:300]}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"error: cannot reach the simulator at {url}: {exc.reason}\n"
                         "hint: is `govcloud sim serve` running, and is --url its base URL?"
                         ) from None


def serve(args: argparse.Namespace) -> int:
    import logging

    from govcloud.sim.server import start

    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    faults = Faults(latency_ms=args.latency_ms, jitter_ms=args.jitter_ms,
                    error_rate=args.error_rate)
    if not 0 <= args.error_rate <= 1:
        print("error: --error-rate must be between 0 and 1", file=sys.stderr)
        return 2
    # Ctrl-C, `kill` and a hang-up (terminal closed, SSH session dropped) all stop it cleanly.
    # They are blocked from before the ready file is written (and so in every thread start()
    # makes) and taken by sigwait below: a signal sent on seeing the file is never met by the
    # default action, and no handler runs inside a lock another handler holds (several
    # signals at once deadlocked an Event.set handler).
    stop_signals = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        running = start(host=args.host, port=args.port, scale=args.scale, seed=args.seed,
                        clouds_yaml=args.clouds_yaml, functional=args.functional_clouds,
                        build_delay=args.build_delay, admin_password=args.admin_password,
                        faults=faults, ready_file=args.ready_file, freeze_gc=True)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}\n"
              "hint: pick another --port, or 0 for a free one", file=sys.stderr)
        return 1
    print(f"govcloud simulator at {running.base_url} ({args.scale} scale, "
          f"seeded in {running.seed_seconds:.1f}s)", flush=True)
    for cloud, sim in running.sims.items():
        if cloud:
            print(f"city cloud {cloud}: {running.base_url}/clouds/{cloud}/identity",
                  flush=True)
        for name, r in sim.summary()["regions"].items():
            print(f"  {name:10} {r['hypervisors']:4} hypervisors  {r['servers']:6} servers  "
                  f"{r['services_down']} services down", flush=True)
    if running.clouds_yaml:
        print(f"clouds.yaml: {running.clouds_yaml}  (OS_CLOUD=govcloud-sim)", flush=True)
    signal.sigwait(stop_signals)
    running.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    base = args.url.rstrip("/")
    if args.command == "faults":
        changes = {k: getattr(args, k) for k in ("latency_ms", "jitter_ms", "error_rate")
                   if getattr(args, k) is not None}
        result = _call(base + "/_sim/faults", "PUT" if changes else "GET",
                       changes if changes else None)
    else:
        verb = args.command.split("-", 1)[1]
        result = _call(f"{base}/_sim/regions/{args.region}/{verb}", "POST", {})
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
