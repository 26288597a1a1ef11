"""Reading a YAML (or JSON) file someone handed us — a request file, a catalogue file, a host
inventory, the config file — as plain data, or an ``InvalidInput`` that says what is wrong.

* ``read_text`` reads at most ``max_bytes`` of a *regular* file (or of stdin for ``-``): a
  device such as ``/dev/zero``, a FIFO or a directory is refused before anything is read, a
  longer file is refused rather than read whole, and bytes that are not UTF-8 are an error
  naming the offset (not a ``UnicodeDecodeError``).
* ``UniqueKeyLoader`` is ``yaml.SafeLoader`` except that a key given twice in one mapping is
  an error, not a silent "last one wins".
* ``plain`` checks that what YAML built is JSON data: mappings with text keys, lists, text,
  whole numbers, booleans, null and *finite* numbers — no ``.inf``/``.nan``, dates, binary or
  sets — and at most ``MAX_NODES`` values (aliases cannot blow a small file up).
"""

from __future__ import annotations

import math
import os
import stat
import sys
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from govcloud.errors import InvalidInput

MAX_FILE_BYTES = 1024 * 1024  # 1 MiB: far more than any request, catalogue or config file
MAX_NODES = 100_000


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader``, except that a key given twice in one mapping is an error."""


def _construct_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode,
                       deep: bool = False) -> dict[Hashable, Any]:
    seen: set[Any] = set()
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # << merges; its keys may be overridden
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                _construct_mapping)


def safe_load(text: str) -> Any:
    """``yaml.safe_load``, except that a key given twice in one mapping is a YAMLError."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader


def read_text(path: str | Path, *, what: str, max_bytes: int = MAX_FILE_BYTES,
              hint: str = "check the path") -> str:
    """The UTF-8 text of ``path`` (``-``: stdin), read within ``max_bytes``."""
    name = str(path)
    if name == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
    else:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise InvalidInput(f"cannot read {what} {name}: {exc.strerror}", hint=hint) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise InvalidInput(f"{what} {name} is not a regular file",
                               hint="give the path of a YAML file (or - for stdin)")
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvalidInput(f"{what} {name} is larger than {max_bytes // 1024} KiB",
                           hint=f"a {what} is a few KiB of YAML; is this the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} {name} is not UTF-8 text (byte {exc.start} is not)",
                           hint="give a YAML or JSON text file saved as UTF-8") from None


def load(text: str, *, what: str, hint: str = "fix the YAML syntax") -> Any:
    """Parse ``text`` with ``UniqueKeyLoader`` and check it is plain data (``plain``)."""
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise InvalidInput(f"cannot parse {what}: {detail}", hint=hint) from None
    except RecursionError:
        raise InvalidInput(f"cannot parse {what}: it is nested too deeply", hint=hint) from None
    plain(data, what=what)
    return data


def plain(value: Any, *, what: str) -> None:
    """Raise ``InvalidInput`` naming the first value of ``value`` that is not plain JSON data
    (or when it holds more than ``MAX_NODES`` values)."""
    count = 0
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise InvalidInput(f"{what} holds more than {MAX_NODES} values",
                               hint="aliases (*name) that repeat large parts are not allowed")
        place = where or "the top level"
        if isinstance(item, dict):
            for key, sub in item.items():
                if not isinstance(key, str):
                    raise InvalidInput(f"{what}: key {key!r} at {place} is not text",
                                       hint="quote it, e.g. \"1\": ...")
                stack.append((sub, f"{where}.{key}" if where else key))
        elif isinstance(item, list):
            stack.extend((sub, f"{where}[{i}]") for i, sub in enumerate(item))
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput(f"{what}: {place} is {item!r}, not a finite number",
                                   hint="write a number, e.g. 3")
        elif item is not None and not isinstance(item, (str, int, bool)):
            raise InvalidInput(f"{what}: {place} is a {type(item).__name__}, not plain data",
                               hint="quote it to make it text (dates, binary and sets are "
                                    "not allowed)")


def load_text_tree(text: str, *, what: str) -> tuple[Any, dict[str, int]]:
    """Parse ``text`` keeping every scalar as the text written (``0.10`` stays ``"0.10"``, so
    a price never passes through a float) and the 1-based line of every field, keyed by its
    path (``units.vcpu_hour``, ``sites.PROD.flavors.m1.large``, ``list[0]``). Mappings must
    have scalar keys given once; tags are ignored; at most ``MAX_NODES`` values."""
    try:
        root = yaml.compose(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        detail = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise InvalidInput(f"cannot parse {what}{where}: {detail}",
                           hint="fix the YAML syntax (indentation, quoting)") from None
    lines: dict[str, int] = {}
    count = 0

    def walk(node: yaml.Node, where: str) -> Any:
        nonlocal count
        count += 1
        if count > MAX_NODES:
            raise InvalidInput(f"{what} holds more than {MAX_NODES} values",
                               hint="aliases (*name) that repeat large parts are not allowed")
        lines.setdefault(where, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise InvalidInput(f"{what}: line {key_node.start_mark.line + 1}: a key "
                                       "must be plain text", hint="write `name: value`")
                key = str(key_node.value)
                path = f"{where}.{key}" if where else key
                if key in out:
                    raise InvalidInput(f"{what}: line {key_node.start_mark.line + 1}: "
                                       f"{path} is given twice", hint="keep one of them")
                lines[path] = key_node.start_mark.line + 1
                out[key] = walk(value_node, path)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [walk(sub, f"{where}[{i}]") for i, sub in enumerate(node.value)]
        return str(node.value)

    return (walk(root, "") if root is not None else None), lines
