"""Generate the department catalogue once from the simulator's reference data.

    .venv/bin/python tenants/generate.py [--out tenants/] [--force]

Reads ``govcloud/sim/data/guangdong.yaml`` (the province's departments and cities) and writes one
``<code>.yaml`` per department and city. It was run once and its output committed: from then on
the YAML files are the source of truth, edited by hand and reviewed like code. Running it again
refuses to overwrite existing files unless ``--force`` is given.

Choices, kept in step with the simulator's seed (``govcloud/sim/seed.py``) so that the catalogue
and the simulated cloud agree:

* DR level: the seed's ``dr_level()`` (``HIGH_DR`` names the departments at level 5 or 6;
  other departments are at 3, cities at 4).
* Sites: every tenant has PROD; DR-LOCAL where the DR level is 5 or more, or for a city (hot
  standbys in the same city); DR-REMOTE where the DR level is 3 or more (copies in the remote
  centre). That is exactly where the seed places servers.
* Quotas: sized from the seed's expected share of each site's servers (``WEIGHT``) with a
  margin of 60% plus a fixed floor, rounded up to a readable number, so that big departments get
  big quotas and every department's quota stays above what the province seed uses. Server
  groups (one per system and site) and members per group: a fifth of the instances, at least
  10 (members at most 500, the largest request group).
* Contacts: placeholders (a made-up name, a phone number in an unused range, an address under
  the reserved ``.example`` domain).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

# govcloud is installed (``pip install -e .``): the simulator's seed and reference data are
# imported and read as the package's, wherever this script is run from.
from govcloud.sim.seed import FLAVORS, SCALES, WEIGHT, dr_level

REFERENCE = files("govcloud.sim") / "data" / "guangdong.yaml"
CAPITAL = "guangzhou"
SITES = ("PROD", "DR-LOCAL", "DR-REMOTE")
MARGIN = 1.6

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗梁"
GIVEN = ("建国", "志强", "海燕", "丽华", "伟明", "晓东", "秀英", "国庆", "文华", "少波",
         "嘉欣", "俊杰", "惠玲", "振宇", "思远", "雪梅", "家豪", "碧珊", "永康", "婉婷")


def _expected_per_server() -> tuple[float, float]:
    """Mean vCPUs and RAM (MiB) of one seeded server, from the seed's flavor mix."""
    total = sum(f[4] for f in FLAVORS)
    vcpus = sum(f[1] * f[4] for f in FLAVORS) / total
    ram = sum(f[2] * f[4] for f in FLAVORS) / total
    return vcpus, ram


def nice(value: float) -> int:
    """Round up to a readable quota: steps of 5 in the second digit (1447 → 1450, 83 → 85)."""
    if value <= 10:
        return max(1, math.ceil(value))
    step = 5 * 10 ** (int(math.log10(value)) - 2) if value >= 100 else 5
    return int(math.ceil(value / step) * step)


def sites_for(level: int, kind: str) -> list[str]:
    sites = ["PROD"]
    if level >= 5 or kind == "city":
        sites.append("DR-LOCAL")
    if level >= 3:
        sites.append("DR-REMOTE")
    return sites


def quotas(tenants: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, int]]]:
    """Quotas per tenant and site, from the share of the province seed's servers it expects."""
    vcpus, ram = _expected_per_server()
    shapes = {s.name: s for s in SCALES["province"]}
    out: dict[str, dict[str, dict[str, int]]] = {t["code"]: {} for t in tenants}
    for site in SITES:
        present = [t for t in tenants if site in t["sites"]]
        weight = sum(WEIGHT.get(t["code"], 1.0) for t in present)
        for t in present:
            servers = shapes[site].servers * WEIGHT.get(t["code"], 1.0) / weight
            instances = nice(servers * MARGIN + 20)
            cores = nice(servers * vcpus * MARGIN + 120)
            ram_mb = nice((servers * ram * MARGIN + 262144) / 1024) * 1024
            volumes = nice(instances)
            systems = max(10, nice(instances / 5))  # systems of five servers, at least 10
            out[t["code"]][site] = {
                "cores": cores, "ram_mb": ram_mb, "instances": instances,
                "volumes": volumes, "gigabytes": nice(volumes * 200), "ports": nice(instances * 2),
                "server_groups": systems, "server_group_members": min(500, systems),
            }
    return out


def contacts(code: str, domain: str) -> list[dict[str, str]]:
    digest = hashlib.sha256(code.encode()).digest()
    people = []
    for i, mailbox in enumerate(("cloud", "ops")):
        name = SURNAMES[digest[2 * i] % len(SURNAMES)] + GIVEN[digest[2 * i + 1] % len(GIVEN)]
        number = 1000 + int.from_bytes(digest[4 + 2 * i:6 + 2 * i], "big") % 9000
        people.append({"name": name, "phone": f"+86 20 8000 {number:04d}",
                       "email": f"{mailbox}@{domain}.gd-gov.example"})
    return people


def build(reference: dict[str, Any]) -> list[dict[str, Any]]:
    tenants: list[dict[str, Any]] = []
    for d in reference["departments"]:
        tenants.append({"code": d["code"], "zh": d["zh"], "en": d["en"], "kind": d["kind"],
                        "city": CAPITAL})
    for c in reference["cities"]:
        tenants.append({"code": c["code"], "zh": c["zh"], "en": c["en"], "kind": "city",
                        "city": c["code"]})
    for t in tenants:
        t["dr_level"] = dr_level(t["code"], t["kind"])
        t["sites"] = sites_for(t["dr_level"], t["kind"])
    sized = quotas(tenants)
    docs = []
    for t in tenants:
        domain = t["code"].removeprefix("gd-")
        docs.append({
            "code": t["code"], "name_zh": t["zh"], "name_en": t["en"], "kind": t["kind"],
            "city": t["city"], "dr_level": t["dr_level"],
            "quotas": {site: sized[t["code"]][site] for site in t["sites"]},
            "contacts": contacts(t["code"], domain),
        })
    return docs


def render(doc: dict[str, Any]) -> str:
    header = (f"# {doc['name_zh']} {doc['name_en']}\n"
              "# Department catalogue entry (schema: tenants/schema.json, docs/tenancy.md).\n")
    body = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, default_flow_style=None,
                          width=200)
    return header + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    reference = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
    docs = build(reference)
    existing = [d["code"] for d in docs if (args.out / f"{d['code']}.yaml").exists()]
    if existing and not args.force:
        print(f"refusing to overwrite {len(existing)} catalogue files (the files are the source "
              "of truth now); pass --force to regenerate", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        (args.out / f"{doc['code']}.yaml").write_text(render(doc), encoding="utf-8")
    print(f"wrote {len(docs)} files to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
