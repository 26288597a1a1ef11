"""Bounds on what a caller may send, and what of free text the audit chain keeps.

Every string and number a caller gives is bounded before it reaches a service, so that no
request can fill the database, the logs or the audit chain (docs/security.md, "Input limits"):

* ``MAX_NAME`` — a name, code or id (department, site, host, wave, flavor, principal, city);
* ``MAX_LINE`` — one line of text (a rejection or override reason, a fingerprint);
* ``MAX_TEXT`` — free text (a request's justification, a sign-off note);
* ``MAX_ITEMS`` — the entries of one list in a body (sites, hosts, server groups);
* ``MAX_QUERY_ITEMS`` — the values of one repeated query parameter (departments, flavors,
  states), so that a URL within the bounds stays under the HTTP server's 16 KiB request head;
* ``MAX_ID`` — an id or cursor (request, event, audit seq) fits the database's INTEGER
  column (PostgreSQL: 32 bits; beyond it a lookup fails, it does not find nothing);
* ``MAX_TTL_DAYS`` — a token lifetime in days (finite).

The audit chain can never be edited, so free text goes into an entry as ``text_digest``:
its SHA-256 and length. The text itself stays with what it describes (the request, the
sign-off, the wave), where the digest proves it unchanged.
"""

from __future__ import annotations

import hashlib
from typing import Any

MAX_ID = 2**31 - 1
MAX_NAME = 128
MAX_LINE = 500
MAX_TEXT = 4000
MAX_ITEMS = 1000
MAX_QUERY_ITEMS = 50
MAX_TTL_DAYS = 3650


def text_digest(text: str | None) -> dict[str, Any] | None:
    """What an audit entry keeps of free text: ``{"sha256": hex, "length": characters}``
    (None stays None). ``hashlib.sha256(text.encode()).hexdigest()`` recomputes it."""
    if text is None:
        return None
    return {"sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
            "length": len(text)}
