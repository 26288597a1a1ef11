"""The department catalogue: what every tenant should have, in every site.

A catalogue entry (one YAML file under ``tenants/``, validated against ``tenants/schema.json``
by the loader in ``govcloud.services.catalogue``) becomes a :class:`Department`. This module
checks what a JSON Schema cannot: that a code, a site name or a Chinese name is one govcloud can
use, and that entries agree with each other. Every problem names the file, the field and the fix.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from govcloud.errors import InvalidInput, NotFound

QUOTA_FIELDS: tuple[str, ...] = ("cores", "ram_mb", "instances", "volumes", "gigabytes", "ports",
                                  "server_groups", "server_group_members")
DEFAULT_SITES: tuple[str, ...] = ("PROD", "DR-LOCAL", "DR-REMOTE")
MAX_QUOTA = 2**31 - 1  # what Nova, Cinder and Neutron accept
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
DR_LEVELS = range(1, 7)
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,22}[0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# besides CJK ideographs, what an official Chinese name may contain
_ZH_EXTRA = frozenset("〇·（）()、-—0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_FIELDS = ("code", "name_zh", "name_en", "kind", "city", "dr_level", "quotas", "contacts")


class DepartmentKind(StrEnum):
    """A provincial department, a national body's provincial branch, a prefecture city, one of
    a city's own departments (e.g. 广州市公安局), or a provincial or national body's branch in a
    city (e.g. 国家税务总局深圳市税务局): the last three are the tenants of a city's site."""

    DEPARTMENT = "department"
    VERTICAL = "vertical"
    CITY = "city"
    CITY_DEPARTMENT = "city-department"
    CITY_BRANCH = "city-branch"


# the kinds that belong to their ``city`` (RBAC, DR to the city's site, placement); the others
# are the province's, whatever city they sit in (docs/city-clouds.md, Tenants of a city site)
CITY_KINDS: frozenset[DepartmentKind] = frozenset(
    {DepartmentKind.CITY, DepartmentKind.CITY_DEPARTMENT, DepartmentKind.CITY_BRANCH})


@dataclass(frozen=True, slots=True)
class SiteQuota:
    """A tenant's quotas in one site: Nova cores/RAM/instances, Cinder volumes/GiB, Neutron
    ports, and Nova server groups and members per group (every quota placement checks)."""

    cores: int = 0
    ram_mb: int = 0
    instances: int = 0
    volumes: int = 0
    gigabytes: int = 0
    ports: int = 0
    server_groups: int = 0
    server_group_members: int = 0

    def get(self, name: str) -> int:
        if name not in QUOTA_FIELDS:
            raise KeyError(name)
        value: int = getattr(self, name)
        return value

    def as_dict(self) -> dict[str, int]:
        return {name: self.get(name) for name in QUOTA_FIELDS}

    @classmethod
    def from_mapping(cls, values: Mapping[str, int]) -> SiteQuota:
        return cls(**{name: int(values[name]) for name in QUOTA_FIELDS})


NO_QUOTA = SiteQuota()


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    phone: str
    email: str


@dataclass(frozen=True, slots=True)
class Department:
    """One tenant's desired state. ``source`` names the file it came from (for messages)."""

    code: str
    name_zh: str
    name_en: str
    kind: DepartmentKind
    city: str
    dr_level: int
    quotas: Mapping[str, SiteQuota]
    contacts: tuple[Contact, ...]
    source: str = field(default="", compare=False)

    @property
    def description(self) -> str:
        """The Keystone project description: the Chinese name, then the English one."""
        return f"{self.name_zh} {self.name_en}"

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(self.quotas)

    def quota(self, site: str) -> SiteQuota:
        """The quota in ``site``; a site the entry leaves out gets none (all zero)."""
        return self.quotas.get(site, NO_QUOTA)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code, "name_zh": self.name_zh, "name_en": self.name_en,
            "kind": self.kind.value, "city": self.city, "dr_level": self.dr_level,
            "quotas": {site: q.as_dict() for site, q in self.quotas.items()},
            "contacts": [{"name": c.name, "phone": c.phone, "email": c.email}
                         for c in self.contacts],
        }


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a catalogue file: where, what, and how to fix it."""

    source: str
    field: str
    message: str
    hint: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.field}" if self.field else self.source
        return f"{where}: {self.message} (fix: {self.hint})"

    def to_dict(self) -> dict[str, str]:
        return {"file": self.source, "field": self.field, "message": self.message,
                "hint": self.hint}


class CatalogueError(InvalidInput):
    """The catalogue cannot be used; ``problems`` lists everything found, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            p = self.problems[0]
            where = f"{p.source}: {p.field}" if p.field else p.source
            super().__init__(f"{where}: {p.message}", hint=p.hint)
        else:
            lines = "\n".join(f"  {p}" for p in self.problems)
            super().__init__(
                f"the department catalogue has {len(self.problems)} problems:\n{lines}",
                hint="fix each file and field named above (docs/tenancy.md describes every "
                     "field); nothing is applied until the whole catalogue is valid")


# --- text checks --------------------------------------------------------------------------------

def _char_name(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')}"


def _is_ideograph(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("CJK UNIFIED IDEOGRAPH")


def odd_characters_zh(text: str) -> list[tuple[int, str]]:
    """Characters that do not belong in an official Chinese name, with their positions.

    Allowed: CJK unified ideographs, 〇, ASCII letters and digits, and the punctuation
    ``·（）()、-—``. Anything else is reported: spaces (also the full-width U+3000), invisible
    characters (zero-width space and joiners, BOM), compatibility ideographs and Kangxi radicals
    that only look like the real character, and so on.
    """
    return [(i, ch) for i, ch in enumerate(text)
            if not (_is_ideograph(ch) or ch in _ZH_EXTRA)]


def _odd_characters_plain(text: str) -> list[tuple[int, str]]:
    """Invisible or control characters and any space but U+0020 (for English names, people)."""
    bad = []
    for i, ch in enumerate(text):
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Co", "Cn", "Zl", "Zp") or (cat == "Zs" and ch != " "):
            bad.append((i, ch))
    return bad


def _text_problems(text: str, *, zh: bool) -> list[tuple[str, str]]:
    """(message, hint) pairs for a name."""
    problems = []
    odd = odd_characters_zh(text) if zh else _odd_characters_plain(text)
    if odd:
        shown = ", ".join(f"{_char_name(ch)} at position {i + 1}" for i, ch in odd[:3])
        more = f" and {len(odd) - 3} more" if len(odd) > 3 else ""
        if zh:
            hint = ("retype the name with plain characters: no spaces (also no full-width "
                    "U+3000), no invisible characters (zero-width joiners, BOMs), no look-alike "
                    "radicals or compatibility ideographs")
        else:
            hint = "retype the name without invisible, control or unusual space characters"
        problems.append((f"contains {shown}{more}", hint))
    if not zh:
        if text != text.strip() or "  " in text:
            problems.append(("has leading, trailing or doubled spaces",
                             "remove the extra spaces"))
    elif not odd and not any(_is_ideograph(ch) for ch in text):
        problems.append(("has no Chinese characters", "give the official Chinese name"))
    return problems


# --- one file -----------------------------------------------------------------------------------

def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _suggest(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


class _Checker:
    def __init__(self, source: str, sites: Collection[str]) -> None:
        self.source = source
        self.sites = tuple(sites)
        self.problems: list[Problem] = []

    def add(self, where: str, message: str, hint: str) -> None:
        self.problems.append(Problem(self.source, where, message, hint))

    def string(self, doc: Mapping[str, Any], key: str, where: str) -> str | None:
        value = doc.get(key)
        if not isinstance(value, str):
            self.add(where, f"must be a string, not {type(value).__name__}",
                     f"give {key} as text")
            return None
        return value

    def code(self, value: str, where: str) -> bool:
        if CODE_PATTERN.fullmatch(value) and "--" not in value:
            return True
        self.add(where, f"{value!r} is not a valid code",
                 "use 2-32 lower-case letters, digits and single '-', starting with a letter "
                 "and not ending with '-' (e.g. gd-tax)")
        return False

    def quotas(self, value: object) -> dict[str, SiteQuota]:
        if not isinstance(value, Mapping) or not value:
            self.add("quotas", "must map site names to quotas",
                     f"give at least one site, e.g. quotas: {{PROD: {{cores: 100, ...}}}}; "
                     f"sites: {', '.join(self.sites)}")
            return {}
        result: dict[str, SiteQuota] = {}
        for site, quota in value.items():
            where = f"quotas.{site}"
            if site not in self.sites:
                self.add(where, f"unknown site {site!r}{_suggest(str(site), self.sites)}",
                         f"use one of the configured sites: {', '.join(self.sites)}")
                continue
            if not isinstance(quota, Mapping):
                self.add(where, "must be a mapping of quota fields",
                         f"give {', '.join(QUOTA_FIELDS)}")
                continue
            ok = True
            for key in quota:
                if key not in QUOTA_FIELDS:
                    ok = False
                    self.add(f"{where}.{key}",
                             f"unknown quota field{_suggest(str(key), QUOTA_FIELDS)}",
                             f"remove it; quota fields are {', '.join(QUOTA_FIELDS)}")
            for name in QUOTA_FIELDS:
                number = quota.get(name)
                if name not in quota:
                    ok = False
                    self.add(f"{where}.{name}", "is missing",
                             f"add {name} (0 gives the tenant none)")
                elif not isinstance(number, int) or isinstance(number, bool) \
                        or not 0 <= number <= MAX_QUOTA:
                    ok = False
                    self.add(f"{where}.{name}",
                             f"must be a whole number from 0 to {MAX_QUOTA}, not {number!r}",
                             "quotas cannot be negative or unlimited (-1); use 0 for none")
            if ok:
                result[str(site)] = SiteQuota.from_mapping(quota)
        return result

    def contacts(self, value: object) -> tuple[Contact, ...]:
        if not isinstance(value, list) or not value:
            self.add("contacts", "must list at least one contact",
                     "add - {name: ..., phone: ..., email: ...}")
            return ()
        result = []
        for i, item in enumerate(value):
            where = f"contacts[{i}]"
            if not isinstance(item, Mapping):
                self.add(where, "must be a mapping with name, phone and email",
                         "write it as {name: ..., phone: ..., email: ...}")
                continue
            name = self.string(item, "name", f"{where}.name")
            phone = self.string(item, "phone", f"{where}.phone")
            email = self.string(item, "email", f"{where}.email")
            ok = name is not None and phone is not None and email is not None
            if name is not None:
                for message, hint in _text_problems(name, zh=False):
                    ok = False
                    self.add(f"{where}.name", message, hint)
                if not name.strip():
                    ok = False
                    self.add(f"{where}.name", "is empty", "give the person's name")
            if phone is not None and not _PHONE.fullmatch(phone):
                ok = False
                self.add(f"{where}.phone", f"{phone!r} is not a phone number",
                         "digits with optional leading '+', spaces and '-', e.g. +86 20 8000 1234")
            if email is not None and not _EMAIL.fullmatch(email):
                ok = False
                self.add(f"{where}.email", f"{email!r} is not an e-mail address",
                         "write it as name@domain")
            if ok and name is not None and phone is not None and email is not None:
                result.append(Contact(name=name, phone=phone, email=email))
        return tuple(result)


def department_problems(doc: object, *, source: str,
                        sites: Collection[str] = DEFAULT_SITES) -> list[Problem]:
    """Every semantic problem in one catalogue document (empty when it is usable)."""
    return _parse(doc, source=source, sites=sites)[1]


def parse_department(doc: object, *, source: str,
                     sites: Collection[str] = DEFAULT_SITES) -> Department:
    """A :class:`Department` from one parsed catalogue document, or :class:`CatalogueError`
    listing every problem in it. ``sites`` are the site names quotas may be given for."""
    department, problems = _parse(doc, source=source, sites=sites)
    if problems or department is None:
        raise CatalogueError(problems)
    return department


def _check_city(check: _Checker, city: object, kind: DepartmentKind | None,
                code: str | None) -> None:
    """A city is a code; a city's own entry names itself, its departments and branches don't."""
    if not isinstance(city, str):
        check.add("city", f"must be a string, not {type(city).__name__}",
                  "give the city's code, e.g. guangzhou")
    elif not check.code(city, "city") or code is None:
        return
    elif kind is DepartmentKind.CITY and city != code:
        check.add("city", f"a city's own entry must name itself, not {city!r}",
                  f"set city: {code}")
    elif kind in CITY_KINDS and kind is not DepartmentKind.CITY and city == code:
        check.add("code", f"a {kind.value} needs a code of its own, not its city's",
                  "give it a code of its own, e.g. gz-psb for 广州市公安局 (kind: city is "
                  "the city's own entry)")


def _parse(doc: object, *, source: str,
           sites: Collection[str]) -> tuple[Department | None, list[Problem]]:
    check = _Checker(source, sites)
    if not isinstance(doc, Mapping):
        check.add("", f"must be a mapping of fields, not {type(doc).__name__}",
                  f"the file holds one department: {', '.join(_FIELDS)}")
        return None, check.problems
    for key in doc:
        if key not in _FIELDS:
            check.add(str(key), f"unknown field{_suggest(str(key), _FIELDS)}",
                      f"remove it; the fields are {', '.join(_FIELDS)}")
    for key in _FIELDS:
        if key not in doc:
            check.add(key, "is missing", f"add {key} (see docs/tenancy.md)")
    code = doc.get("code")
    code_ok = isinstance(code, str) and check.code(code, "code")
    if "code" in doc and not isinstance(code, str):
        check.add("code", f"must be a string, not {type(code).__name__}", "e.g. code: gd-tax")
    names: dict[str, str] = {}
    for key, zh in (("name_zh", True), ("name_en", False)):
        if key not in doc:
            continue
        text = check.string(doc, key, key)
        if text is None:
            continue
        if not text.strip():
            check.add(key, "is empty", "give the official name")
            continue
        bad = _text_problems(text, zh=zh)
        for message, hint in bad:
            check.add(key, message, hint)
        if not bad:
            names[key] = text
    kind: DepartmentKind | None = None
    if "kind" in doc:
        try:
            kind = DepartmentKind(doc["kind"])
        except ValueError:
            check.add("kind", f"{doc['kind']!r} is not a kind",
                      f"use one of {', '.join(k.value for k in DepartmentKind)}")
    city = doc.get("city")
    if "city" in doc:
        _check_city(check, city, kind, code if code_ok else None)
    level = doc.get("dr_level")
    if "dr_level" in doc and (not _is_int(level) or level not in DR_LEVELS):
        check.add("dr_level", f"{level!r} is not a DR level",
                  "use a whole number from 1 to 6 (GB/T 20988)")
    quotas = check.quotas(doc.get("quotas")) if "quotas" in doc else {}
    contacts = check.contacts(doc.get("contacts")) if "contacts" in doc else ()
    if check.problems:
        return None, check.problems
    assert isinstance(code, str) and isinstance(city, str) and kind is not None
    assert isinstance(level, int)
    return Department(code=code, name_zh=names["name_zh"], name_en=names["name_en"], kind=kind,
                      city=city, dr_level=level, quotas=quotas, contacts=contacts,
                      source=source), []


# --- the whole catalogue --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every department, ordered by code."""

    departments: tuple[Department, ...]

    def __iter__(self) -> Iterator[Department]:
        return iter(self.departments)

    def __len__(self) -> int:
        return len(self.departments)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.departments)

    def find(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def get(self, code: str) -> Department:
        found = self.find(code)
        if found is None:
            raise NotFound(f"no department {code!r} in the catalogue",
                           hint=f"known codes include {', '.join(self.codes[:5])}, ..."
                                f"{_suggest(code, self.codes)}")
        return found

    def only(self, codes: Iterable[str]) -> Catalogue:
        """The catalogue restricted to ``codes``; an unknown code is an error."""
        wanted = list(dict.fromkeys(codes))
        unknown = [c for c in wanted if self.find(c) is None]
        if unknown:
            hints = "".join(_suggest(c, self.codes) for c in unknown)
            raise InvalidInput(f"unknown department code(s): {', '.join(unknown)}",
                               hint=f"codes are the catalogue's file names under tenants/{hints}")
        keep = set(wanted)
        return Catalogue(tuple(d for d in self.departments if d.code in keep))


def build_catalogue(departments: Iterable[Department], *,
                    other_cities: Collection[str] = ()) -> Catalogue:
    """Check entries against each other (unique codes, cities that exist) and order them.

    ``other_cities`` are city codes known to exist although their entries are not given (a
    loader passes the cities whose files failed, so their departments are not blamed too).
    """
    items = list(departments)
    problems: list[Problem] = []
    by_code: dict[str, Department] = {}
    for d in items:
        first = by_code.setdefault(d.code, d)
        if first is not d:
            problems.append(Problem(d.source, "code", f"{d.code!r} is also the code in "
                                    f"{first.source}", "every department needs its own code; "
                                    "rename one of them (and its file)"))
    cities = {d.code for d in items if d.kind is DepartmentKind.CITY} | set(other_cities)
    for d in items:
        if d.kind is not DepartmentKind.CITY and d.city not in cities:
            hint = ("a city's department or branch needs its city's own entry (kind: city) "
                    "in the catalogue too" if d.kind in CITY_KINDS else
                    "use the code of a city entry (kind: city), e.g. guangzhou")
            problems.append(Problem(d.source, "city", f"{d.city!r} is not a city in the "
                                    f"catalogue{_suggest(d.city, cities)}", hint))
    if problems:
        raise CatalogueError(problems)
    return Catalogue(tuple(sorted(by_code.values(), key=lambda d: d.code)))
