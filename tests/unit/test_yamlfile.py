"""govcloud.yamlfile: what a hostile or mistaken YAML file becomes — an InvalidInput naming the
problem, never a silent "last key wins", a crash or an endless read."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import yaml

from govcloud import yamlfile
from govcloud.config_files import read_config_file
from govcloud.errors import InvalidInput
from govcloud.services.migration import parse_inventory_text


def test_a_key_given_twice_is_an_error_at_any_depth() -> None:
    for text in ("a: 1\na: 2\n", "a:\n  b: 1\n  b: 2\n", "- {x: 1, x: 1}\n"):
        with pytest.raises(yaml.YAMLError, match="found duplicate key"):
            yamlfile.safe_load(text)
        with pytest.raises(InvalidInput, match="cannot parse f: .*found duplicate key"):
            yamlfile.load(text, what="f")
    # a merge key's values may still be overridden, as YAML means them to be
    text = "base: &b {a: 1, c: 3}\nx:\n  <<: *b\n  a: 2\n"
    assert yamlfile.safe_load(text)["x"] == {"a": 2, "c": 3}


@pytest.mark.parametrize(("text", "message"), [
    ("count: .inf\n", "count is inf, not a finite number"),
    ("a: [1, -.inf]\n", r"a\[1\] is -inf, not a finite number"),
    ("count: .nan\n", "count is nan, not a finite number"),
    ("when: 2026-12-06\n", "when is a date, not plain data"),
    ("blob: !!binary aGk=\n", "blob is a bytes, not plain data"),
    ("1: one\n", "key 1 at the top level is not text"),
    ("? [a, b]\n: x\n", "cannot parse"),  # an unhashable key
])
def test_only_plain_json_data_is_accepted(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        yamlfile.load(text, what="f")


def test_aliases_cannot_blow_a_small_file_up() -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdef", "bcdefg", strict=True))
    with pytest.raises(InvalidInput, match="more than 100000 values"):
        yamlfile.load(text, what="f")


def test_read_text_is_bounded_regular_and_utf8(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ok = tmp_path / "ok.yaml"
    ok.write_text("名: 公安厅\n", encoding="utf-8")
    assert yamlfile.read_text(ok, what="file") == "名: 公安厅\n"
    with pytest.raises(InvalidInput, match="is not a regular file"):
        yamlfile.read_text("/dev/zero", what="file")
    with pytest.raises(InvalidInput, match="is not a regular file"):
        yamlfile.read_text(tmp_path, what="file")
    with pytest.raises(InvalidInput, match="cannot read file .*No such file"):
        yamlfile.read_text(tmp_path / "nope", what="file")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 2049)
    with pytest.raises(InvalidInput, match="larger than 2 KiB"):
        yamlfile.read_text(big, what="file", max_bytes=2048)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"a: 1\n\xff\xfe")
    with pytest.raises(InvalidInput, match=r"not UTF-8 text \(byte 5 is not\)"):
        yamlfile.read_text(binary, what="file")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 3000)))
    with pytest.raises(InvalidInput, match="larger than"):
        yamlfile.read_text("-", what="file", max_bytes=2048)


def test_the_config_file_and_host_inventories_refuse_a_key_given_twice(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("database_url: sqlite:///a.db\ndatabase_url: sqlite:///b.db\n")
    with pytest.raises(InvalidInput, match="found duplicate key 'database_url'"):
        read_config_file(config)
    with pytest.raises(InvalidInput, match="inv.yaml: not YAML: .*found duplicate key"):
        parse_inventory_text("gd-psd:\n  hosts: {}\ngd-psd:\n  hosts: {}\n", where="inv.yaml")
