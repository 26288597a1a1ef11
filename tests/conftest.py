"""Suite-wide settings.

Hypothesis' per-example deadline (200 ms by default) measures wall time, so on a shared 2-core
machine under load it fails examples that are correct but were descheduled. Correctness is what
the property tests assert; speed is measured in bench/, so the deadline is off for the suite."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("govcloud", deadline=None)
settings.load_profile("govcloud")
