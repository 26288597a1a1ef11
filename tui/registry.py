"""The console's views, registered by name, so that each view lives in its own module and
later work adds views without touching the app.

Adding a view (e.g. requests for issue 5) is one new module:

```python
# tui/views/requests.py
from tui.registry import ViewSpec, register_view
from tui.views.base import ListView        # or DataView for a non-list screen

class RequestsView(ListView):
    VIEW_NAME = "requests"                  # palette name: `:requests`
    def fetch(self, api):                   # runs in a worker thread; may raise GovCloudError
        return api.requests().requests      # typed answers (govcloud.api.models)
    def show(self, data):                   # runs on the UI thread
        self.table.set_rows(...)

register_view(ViewSpec(name="requests", title=("Requests", "申请"), factory=RequestsView,
                       aliases=("req", "approvals"), order=60,
                       needs="request.submit"))   # optional: hidden from roles without it
```

and its import in ``tui/views/__init__.py`` (``VIEW_MODULES``). The palette (`:`) completes
every registered name and alias; ``order`` places the view in the help screen and the
palette's list. Views of whole-cloud facts name the RBAC action they need (``needs``); the
console hides them from roles without it (the server refuses anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """A top-level view: ``name`` is what `:` takes; ``title`` is (English, Chinese);
    ``factory`` builds its screen (no arguments); ``needs`` an RBAC action name the role must
    have somewhere — or, with ``needs_global``, on the whole cloud (``Session.may``)."""

    name: str
    title: tuple[str, str]
    factory: Callable[[], Any]
    aliases: tuple[str, ...] = ()
    order: int = 100
    needs: str | None = None
    needs_global: bool = False   # ``needs`` on the whole cloud, not just somewhere

    def title_in(self, lang: str) -> str:
        return self.title[1] if lang == "zh" else self.title[0]


_VIEWS: dict[str, ViewSpec] = {}


def register_view(spec: ViewSpec) -> ViewSpec:
    """Register (or replace) the view named ``spec.name``."""
    for other in _VIEWS.values():
        clash = {spec.name, *spec.aliases} & {other.name, *other.aliases}
        if other.name != spec.name and clash:
            raise ValueError(f"view {spec.name!r}: {sorted(clash)} already name "
                             f"view {other.name!r}")
    _VIEWS[spec.name] = spec
    return spec


def load_views() -> list[ViewSpec]:
    """The registered views, in ``order`` (every module of ``tui.views.VIEW_MODULES``
    registered its own when this module was imported)."""
    return views()


def views() -> list[ViewSpec]:
    return sorted(_VIEWS.values(), key=lambda v: (v.order, v.name))


def find_view(word: str) -> ViewSpec | None:
    """The view a palette word names: its name, an alias, or an unambiguous prefix."""
    word = word.strip().lstrip(":").lower()
    if not word:
        return None
    for spec in _VIEWS.values():
        if word == spec.name or word in spec.aliases:
            return spec
    matches = [s for s in _VIEWS.values()
               if any(n.startswith(word) for n in (s.name, *s.aliases))]
    return matches[0] if len(matches) == 1 else None


def palette_words() -> list[str]:
    """Every name and alias, for completion."""
    words: list[str] = []
    for spec in views():
        words += [spec.name, *spec.aliases]
    return words


# The views register themselves when ``tui.views`` imports them; they import this module's
# names, so the import comes last.
import tui.views  # noqa: E402,F401
