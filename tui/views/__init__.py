"""The console's views: one module per view, each registering itself (``tui.registry``)."""

from tui.views import (
    alerts,  # health and alerts (issue 7)
    audit,
    changes,  # change requests and the calendar (issue 21)
    departments,
    dr,  # disaster-recovery posture (issue 19)
    migrations,  # legacy hosts, waves, runs (issue 6)
    overview,
    reports,  # statements and the operator scorecard (issue 20)
    requests,  # requests and approvals (issue 5)
    servers,
    sites,
    whatif,
)

VIEW_MODULES = (overview, departments, sites, servers, whatif, audit, requests, migrations,
                alerts, dr, reports, changes)
