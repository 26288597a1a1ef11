"""Loading the catalogue from files: YAML, the JSON Schema and the semantic checks together, every
problem reported at once, and the shipped tenants/ catalogue itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from govcloud.domain.catalogue import QUOTA_FIELDS, CatalogueError, DepartmentKind
from govcloud.errors import InvalidInput
from govcloud.services.catalogue import load_catalogue
from govcloud.sim import seed

REPO = Path(__file__).resolve().parents[2]
TENANTS = REPO / "tenants"


@pytest.fixture
def catalogue_dir(tmp_path: Path) -> Path:
    """A copy of three real entries and the schema, to break."""
    folder = tmp_path / "tenants"
    folder.mkdir()
    for name in ("schema.json", "guangzhou.yaml", "gd-psd.yaml", "gd-tax.yaml"):
        shutil.copy(TENANTS / name, folder / name)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems_of(folder: Path) -> list[tuple[str, str, str]]:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(folder)
    return [(Path(p.source).name, p.field, p.message) for p in caught.value.problems]


def test_the_shipped_catalogue_loads() -> None:
    cat = load_catalogue(TENANTS)
    assert len(cat) == 71
    kinds = [d.kind for d in cat]
    assert kinds.count(DepartmentKind.CITY) == 21
    for d in cat:
        assert (TENANTS / f"{d.code}.yaml").is_file()
        assert d.city == (d.code if d.kind is DepartmentKind.CITY else "guangzhou")
        assert d.contacts


def test_the_catalogue_agrees_with_the_simulator_seed() -> None:
    """DR levels are the seed's, and quotas exist exactly where the seed places servers."""
    cat = load_catalogue(TENANTS)
    seeded = {t["code"]: t for t in seed.tenants("province")}
    assert set(seeded) == set(cat.codes)
    for d in cat:
        assert d.dr_level == seeded[d.code]["dr_level"], d.code
        assert d.name_zh == seeded[d.code]["zh"] and d.name_en == seeded[d.code]["en"]
        assert ("DR-LOCAL" in d.quotas) == (d.dr_level >= 5 or d.kind is DepartmentKind.CITY)
        assert ("DR-REMOTE" in d.quotas) == (d.dr_level >= 3)
        assert "PROD" in d.quotas


def test_bigger_departments_get_bigger_quotas() -> None:
    cat = load_catalogue(TENANTS)
    psd, agri = cat.get("gd-psd").quota("PROD"), cat.get("gd-agri").quota("PROD")
    for name in QUOTA_FIELDS:
        assert psd.get(name) > agri.get(name)


@pytest.mark.slow
def test_every_quota_covers_the_province_seed_usage() -> None:
    """Applying the catalogue to the province-scale simulator is never refused."""
    cat = load_catalogue(TENANTS)
    cloud = seed.build_cloud(scale="province", seed=42, base_url="http://127.0.0.1:9",
                             build_delay=0)
    names = {pid: p.name for pid, p in cloud.projects.items()}
    checked = 0
    for region in cloud.regions.values():
        ports: dict[str, int] = {}
        for port in region.ports.values():
            ports[port.project_id] = ports.get(port.project_id, 0) + 1
        for pid, used in region.usage.items():
            if names[pid] not in cat.codes:
                continue
            quota = cat.get(names[pid]).quota(region.name)
            assert used.cores <= quota.cores, (names[pid], region.name)
            assert used.ram <= quota.ram_mb, (names[pid], region.name)
            assert used.instances <= quota.instances, (names[pid], region.name)
            assert ports.get(pid, 0) <= quota.ports, (names[pid], region.name)
            checked += 1
    assert checked >= 71 * 2


def test_bad_yaml_names_file_and_line(catalogue_dir: Path) -> None:
    edit(catalogue_dir / "gd-psd.yaml", "dr_level: 6", "dr_level: [6")
    [(name, field, message)] = problems_of(catalogue_dir)
    assert name == "gd-psd.yaml" and field == ""
    assert "not valid YAML at line" in message


def test_a_key_given_twice_is_an_error(catalogue_dir: Path) -> None:
    edit(catalogue_dir / "gd-psd.yaml", "dr_level: 6", "dr_level: 6\ndr_level: 2")
    [(name, _, message)] = problems_of(catalogue_dir)
    assert name == "gd-psd.yaml" and "duplicate key 'dr_level'" in message


def test_a_device_or_a_huge_file_is_a_problem_not_a_hang(catalogue_dir: Path) -> None:
    """A catalogue entry named *.yaml that is a device (read forever) or bigger than any
    department file is reported, not read."""
    (catalogue_dir / "gd-tax.yaml").unlink()
    (catalogue_dir / "gd-tax.yaml").symlink_to("/dev/zero")
    (catalogue_dir / "gd-psd.yaml").write_text("#" * (1024 * 1024 + 1), encoding="utf-8")
    found = problems_of(catalogue_dir)
    assert sorted(name for name, _, _ in found) == ["gd-psd.yaml", "gd-tax.yaml"]
    assert all("is not a regular file of at most 1024 KiB" in m for _, _, m in found)


def test_schema_violations_name_the_field(catalogue_dir: Path) -> None:
    edit(catalogue_dir / "gd-psd.yaml", "kind: department", "kind: bureau")
    edit(catalogue_dir / "gd-psd.yaml", "cores: 14000", "cores: '14000'")
    edit(catalogue_dir / "gd-tax.yaml", "dr_level: 6", "dr_level: 6\nowner: nobody")
    found = problems_of(catalogue_dir)
    assert ("gd-psd.yaml", "kind", "'bureau' is not allowed") in found
    assert any(f == "quotas.PROD.cores" and "type integer" in m for _, f, m in found)
    assert ("gd-tax.yaml", "owner", "unknown field") in found
    assert len(found) == 3  # the same field is not reported twice (schema and semantics)


def test_unknown_site_and_negative_quota(catalogue_dir: Path) -> None:
    edit(catalogue_dir / "gd-psd.yaml", "  DR-REMOTE:", "  DR-REMOTO:")
    edit(catalogue_dir / "gd-tax.yaml", "ports: 3600", "ports: -1")
    found = problems_of(catalogue_dir)
    assert ("gd-psd.yaml", "quotas.DR-REMOTO",
            "unknown site 'DR-REMOTO' (did you mean DR-REMOTE?)") in found
    assert any(n == "gd-tax.yaml" and f.endswith(".ports") and "at least 0" in m
               for n, f, m in found)


def test_missing_required_field(catalogue_dir: Path) -> None:
    path = catalogue_dir / "gd-tax.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    del doc["contacts"]
    del doc["quotas"]["PROD"]["ram_mb"]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    found = problems_of(catalogue_dir)
    assert ("gd-tax.yaml", "contacts", "is missing") in found
    assert ("gd-tax.yaml", "quotas.PROD.ram_mb", "is missing") in found


def test_odd_chinese_characters(catalogue_dir: Path) -> None:
    edit(catalogue_dir / "gd-psd.yaml", "name_zh: 广东省公安厅",
         "name_zh: 广东省\u3000公安\u200d厅")
    [(name, field, message)] = problems_of(catalogue_dir)
    assert (name, field) == ("gd-psd.yaml", "name_zh")
    assert "U+3000" in message and "U+200D" in message


def test_file_name_must_match_the_code(catalogue_dir: Path) -> None:
    (catalogue_dir / "gd-tax.yaml").rename(catalogue_dir / "tax.yaml")
    [(name, field, message)] = problems_of(catalogue_dir)
    assert (name, field) == ("tax.yaml", "code") and "file name" in message


def test_duplicate_codes_across_files(catalogue_dir: Path) -> None:
    shutil.copy(catalogue_dir / "gd-tax.yaml", catalogue_dir / "gd-tax.yml")
    found = problems_of(catalogue_dir)
    assert [(n, f) for n, f, _ in found] == [("gd-tax.yml", "code")]
    assert "gd-tax.yaml" in found[0][2]


def test_everything_is_reported_together_and_nothing_half_loaded(catalogue_dir: Path) -> None:
    edit(catalogue_dir / "gd-psd.yaml", "dr_level: 6", "dr_level: 0")
    edit(catalogue_dir / "gd-tax.yaml", "  PROD:", "  PRD:")
    (catalogue_dir / "broken.yaml").write_text("code: [", encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(catalogue_dir)
    err = caught.value
    assert {Path(p.source).name for p in err.problems} == {"gd-psd.yaml", "gd-tax.yaml",
                                                           "broken.yaml"}
    assert "3 problems" in err.message
    assert "nothing is applied" in (err.hint or "")


def test_a_broken_city_does_not_blame_its_departments(catalogue_dir: Path) -> None:
    edit(catalogue_dir / "guangzhou.yaml", "dr_level: 5", "dr_level: 50")
    found = problems_of(catalogue_dir)
    assert [n for n, _, _ in found] == ["guangzhou.yaml"]


def test_other_sites_can_be_configured(catalogue_dir: Path) -> None:
    with pytest.raises(CatalogueError, match="unknown site 'DR-LOCAL'"):
        load_catalogue(catalogue_dir, sites=("PROD", "DR-REMOTE"))


def test_empty_or_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a directory"):
        load_catalogue(tmp_path / "nope")
    shutil.copy(TENANTS / "schema.json", tmp_path / "schema.json")
    with pytest.raises(InvalidInput, match="no catalogue files"):
        load_catalogue(tmp_path)


def test_missing_schema(tmp_path: Path) -> None:
    shutil.copy(TENANTS / "gd-tax.yaml", tmp_path / "gd-tax.yaml")
    with pytest.raises(InvalidInput, match="schema") as caught:
        load_catalogue(tmp_path)
    assert "schema.json" in (caught.value.hint or "")
