"""Read every site's summary at once: one thread per site; a failing site is reported, never
dropped, and never holds the others back."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from govcloud.cloud.connect import connect
from govcloud.cloud.summary import site_summary
from govcloud.domain.sites import Site
from govcloud.domain.summary import SiteSummary
from govcloud.errors import GovCloudError, PermanentError

log = logging.getLogger(__name__)

SiteReader = Callable[[Site], SiteSummary]


@dataclass(frozen=True, slots=True)
class SiteOverview:
    """One site's summary, or the error that stopped it being read."""

    site: Site
    summary: SiteSummary | None
    error: GovCloudError | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"site": self.site.name, "role": self.site.role.value,
                                "cloud": self.site.cloud, "region": self.site.region,
                                "seconds": round(self.seconds, 3)}
        if self.summary is not None:
            data.update({k: v for k, v in self.summary.to_dict().items() if k != "site"})
        if self.error is not None:
            data["error"] = {"type": type(self.error).__name__, "message": self.error.message,
                             "hint": self.error.hint}
        return data


def read_sites(sites: Sequence[Site], *, read: SiteReader,
               clock: Callable[[], float] = time.monotonic) -> list[SiteOverview]:
    """Run ``read`` for every site in parallel; results come back in the sites' order."""
    results: list[SiteOverview | None] = [None] * len(sites)

    def run(index: int, site: Site) -> None:
        started = clock()
        summary: SiteSummary | None = None
        error: GovCloudError | None = None
        try:
            summary = read(site)
        except GovCloudError as exc:
            error = exc
        except Exception as exc:  # a bug must not take the other sites down with it
            log.exception("reading site %s failed", site.name)
            error = PermanentError(f"site {site.name}: unexpected {type(exc).__name__}: {exc}",
                                   hint="rerun with --debug for the traceback")
        results[index] = SiteOverview(site=site, summary=summary, error=error,
                                      seconds=clock() - started)

    threads = [threading.Thread(target=run, args=(i, s), name=f"site-{s.name}", daemon=True)
               for i, s in enumerate(sites)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]


def openstack_reader(*, clouds_yaml: str | os.PathLike[str] | None) -> SiteReader:
    """A reader that connects to each site through openstacksdk and summarises it."""

    def read(site: Site) -> SiteSummary:
        conn = connect(site, clouds_yaml=clouds_yaml)
        try:
            return site_summary(conn, site=site.name)
        finally:
            conn.close()

    return read
