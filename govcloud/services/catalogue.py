"""Load the department catalogue from a directory: read every ``*.yaml``, validate it against
the JSON Schema beside it (``schema.json``), check what a schema cannot (``govcloud.domain.
catalogue``), and check the files against each other.

Every problem in every file is collected and reported together in one :class:`CatalogueError`;
a catalogue with any problem is not returned at all, so nothing is ever half-loaded.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import SchemaError

from govcloud.domain.catalogue import (
    DEFAULT_SITES,
    Catalogue,
    CatalogueError,
    Department,
    Problem,
    build_catalogue,
    department_problems,
    parse_department,
)
from govcloud.errors import InvalidInput
from govcloud.yamlfile import MAX_FILE_BYTES, safe_load

SCHEMA_FILE = "schema.json"


def load_schema(path: Path) -> Draft202012Validator:
    """The catalogue's JSON Schema (draft 2020-12) as a validator."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
    except OSError as exc:
        raise InvalidInput(f"cannot read the catalogue schema {path}: {exc.strerror}",
                           hint="the schema.json that ships in tenants/ must sit beside the "
                                "catalogue files") from exc
    except (ValueError, SchemaError) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise InvalidInput(f"the catalogue schema {path} is invalid: {detail}",
                           hint="restore tenants/schema.json from the repository") from exc
    return Draft202012Validator(schema)


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(base: str, key: str) -> str:
    return f"{base}.{key}" if base else key


def _schema_problem(source: str, error: ValidationError) -> Problem:
    where = _path(error.absolute_path)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    described = schema.get("description")
    instance = error.instance
    kind = error.validator
    value: Any = error.validator_value
    if kind == "required":
        missing = next((k for k in value if isinstance(instance, dict) and k not in instance),
                       "?")
        return Problem(source, _join(where, str(missing)), "is missing",
                       f"add {missing} (see docs/tenancy.md)")
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(schema.get("properties") or {})
        extra = sorted(k for k in instance if k not in allowed)
        return Problem(source, _join(where, ", ".join(map(str, extra))), "unknown field",
                       f"remove it or fix its spelling; allowed: {', '.join(allowed)}")
    if kind == "type":
        return Problem(source, where, f"must be of type {value}, not {type(instance).__name__} "
                                      f"({instance!r})", f"write it as a {value}")
    if kind in ("minimum", "maximum"):
        bound = "at least" if kind == "minimum" else "at most"
        about = f" ({described.rstrip('.')})" if described else ""
        return Problem(source, where, f"must be {bound} {value}, not {instance!r}",
                       f"use a value {bound} {value}{about}")
    if kind == "enum":
        return Problem(source, where, f"{instance!r} is not allowed",
                       f"use one of: {', '.join(map(str, value))}")
    if kind == "pattern":
        return Problem(source, where, f"{instance!r} does not have the expected form",
                       described or f"it must match {value}")
    if kind in ("minItems", "minProperties", "minLength", "maxLength"):
        return Problem(source, where, " ".join(error.message.split())[:200],
                       described or "see docs/tenancy.md")
    return Problem(source, where, " ".join(error.message.split())[:200],
                   described or "see tenants/schema.json and docs/tenancy.md")


def _within(field: str, outer: str) -> bool:
    """Whether field path ``field`` is ``outer`` or lies inside it (``quotas.PROD.cores`` lies
    inside ``quotas.PROD``; everything lies inside the whole document, ``""``)."""
    return not outer or field == outer or field.startswith((outer + ".", outer + "["))


def _read(path: Path, source: str) -> tuple[Any, list[Problem]]:
    try:  # a device or FIFO named *.yaml would be read forever; a huge file whole
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None, [Problem(source, "", "is not a regular file of at most "
                                              f"{MAX_FILE_BYTES // 1024} KiB",
                                  "a department file is a few KiB of YAML")]
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(source, "", f"is not UTF-8 text (byte {exc.start})",
                              "save the file as UTF-8")]
    except OSError as exc:
        return None, [Problem(source, "", f"cannot be read: {exc.strerror}",
                              "check the file's permissions")]
    try:
        return safe_load(text), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        context = getattr(exc, "context", None)
        detail = f"{context}: {problem}" if context else problem
        return None, [Problem(source, "", f"is not valid YAML{where}: {detail}",
                              "fix the YAML syntax (indentation, quoting, a key given twice)")]


def check_file(path: Path, *, validator: Draft202012Validator, sites: Collection[str],
               source: str | None = None) -> tuple[Department | None, list[Problem]]:
    """One catalogue file: its department, or every problem found in it."""
    source = source or str(path)
    doc, problems = _read(path, source)
    if problems:
        return None, problems
    schema_problems = [_schema_problem(source, e) for e in
                       sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path)))]
    semantic = [p for p in department_problems(doc, source=source, sites=sites)
                if not any(_within(p.field, s.field) for s in schema_problems)]
    problems = schema_problems + semantic
    code = doc.get("code") if isinstance(doc, dict) else None
    if isinstance(code, str) and path.stem != code and not any(p.field == "code"
                                                               for p in problems):
        problems.append(Problem(source, "code", f"{code!r} does not match the file name",
                                f"rename the file to {code}.yaml or change the code"))
    if problems:
        return None, problems
    return parse_department(doc, source=source, sites=sites), []


def load_catalogue(directory: str | os.PathLike[str], *,
                   sites: Collection[str] = DEFAULT_SITES,
                   schema: str | os.PathLike[str] | None = None) -> Catalogue:
    """Every department in ``directory`` (``*.yaml`` and ``*.yml``), validated.

    ``sites`` are the site names quotas may be given for (the configured sites); ``schema``
    defaults to ``schema.json`` in ``directory``. Raises :class:`CatalogueError` listing every
    problem in every file, or returns the whole catalogue.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise InvalidInput(f"the department catalogue {folder} is not a directory",
                           hint="point at the tenants/ folder (one YAML file per department)")
    validator = load_schema(Path(schema) if schema is not None else folder / SCHEMA_FILE)
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not files:
        raise InvalidInput(f"no catalogue files (*.yaml) in {folder}",
                           hint="add one <code>.yaml per department (see docs/tenancy.md)")
    problems: list[Problem] = []
    departments: list[Department] = []
    failed_cities: set[str] = set()
    for path in files:
        department, found = check_file(path, validator=validator, sites=sites)
        problems += found
        if department is not None:
            departments.append(department)
        else:
            failed_cities.add(path.stem)  # maybe a city: don't blame its departments too
    try:
        catalogue = build_catalogue(departments, other_cities=failed_cities)
    except CatalogueError as exc:
        problems += exc.problems
    if problems:
        raise CatalogueError(problems)
    return catalogue
