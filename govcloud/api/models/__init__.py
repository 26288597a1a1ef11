"""The API's response bodies, one pydantic model each, in one place: the routes declare them
(``answers(Model)``), the OpenAPI document at ``/api/v1/openapi.json`` shows them, and the API
client (``govcloud.client``) parses answers into them. The error body is
``govcloud.api.contract.ErrorBody``. The request bodies are in ``govcloud.api.models.bodies``
(not imported here: they carry the server's field checks, which the client does not need)."""

from govcloud.api.models.common import (
    ApiModel,
    Figure,
    Number,
    QuotaUse,
    Resources,
    ServerCounts,
    answers,
)
from govcloud.api.models.core import Liveness, WhoAmI
from govcloud.api.models.dr import (
    DrCopy,
    DrCopyServer,
    DrDrill,
    DrPoint,
    DrPosture,
    DrSchedule,
    DrSystem,
    DrSystemDetail,
    DrTotals,
)
from govcloud.api.models.dr_protect import DrAdopted, DrProtectCycle, DrProtectRun
from govcloud.api.models.health import ProbedNow, Probes, ServiceProbe, SiteProbes
from govcloud.api.models.inventory import (
    Alert,
    Capacity,
    CapacitySite,
    FlavorFit,
    Forecast,
    HostServers,
    Hypervisor,
    Hypervisors,
    NeverSynced,
    QuotaCommitment,
    Server,
    ServerDetail,
    ServerGone,
    ServerPage,
    SiteSyncResult,
    Status,
    StatusSite,
    SyncAnswer,
    SyncState,
    SyncStatus,
    Usage,
    UsageEntry,
    WhatIf,
)
from govcloud.api.models.migrate import (
    AnsibleInventory,
    HostKey,
    HostList,
    Imported,
    LegacyHost,
    Overridden,
    PlanAnswer,
    RunStarted,
    SignedOff,
    SurveyAnswer,
    TrustedKey,
    WaveCancelled,
    WaveDetail,
    WaveEvents,
    WaveList,
    WaveSummary,
)
from govcloud.api.models.notifications import Notification, NotificationList
from govcloud.api.models.principals import (
    AuditEntry,
    AuditPage,
    AuditVerification,
    NewToken,
    PrincipalAnswer,
    PrincipalList,
    PrincipalRecord,
)
from govcloud.api.models.replicas import (
    ControlPlaneStatus,
    DatabaseModel,
    LeaseTimingModel,
    ReplicaModel,
    StandbyModel,
    WorkerLeaseModel,
    WorkerProcessModel,
)
from govcloud.api.models.reports import (
    Backfilled,
    MonthClosed,
    PriceSheetAnswer,
    PriceSheetInfo,
    PriceSheetList,
    ReportFile,
    Scorecard,
    StatementReport,
)
from govcloud.api.models.requests import (
    ProvisioningPolicy,
    ProvisionRequest,
    RequestDetail,
    RequestList,
    Submitted,
)
from govcloud.api.models.tenancy import (
    Department,
    DepartmentList,
    DepartmentView,
    TenancyApplied,
    TenancyPlan,
)

__all__ = [
    "Alert", "AnsibleInventory", "ApiModel", "AuditEntry", "AuditPage", "AuditVerification",
    "Backfilled",
    "Capacity", "CapacitySite", "ControlPlaneStatus", "DatabaseModel", "Department",
    "DepartmentList", "DepartmentView", "DrAdopted", "DrCopy",
    "DrCopyServer", "DrDrill", "DrPoint", "DrPosture", "DrProtectCycle", "DrProtectRun",
    "DrSchedule", "DrSystem", "DrSystemDetail", "DrTotals", "Figure",
    "FlavorFit", "Forecast", "HostKey", "HostList", "HostServers", "Hypervisor", "Hypervisors",
    "Imported", "LeaseTimingModel", "NewToken", "LegacyHost", "Liveness", "NeverSynced",
    "Number", "Overridden",
    "MonthClosed", "Notification", "NotificationList", "PlanAnswer", "PriceSheetAnswer",
    "PriceSheetInfo", "PriceSheetList",
    "PrincipalAnswer", "PrincipalList", "PrincipalRecord", "ProbedNow", "Probes",
    "ProvisionRequest", "ProvisioningPolicy", "QuotaCommitment", "QuotaUse", "ReplicaModel",
    "ReportFile",
    "RequestDetail", "Scorecard",
    "RequestList", "Resources", "RunStarted", "Server", "ServerCounts", "ServerDetail",
    "ServerGone", "ServerPage", "ServiceProbe", "SignedOff", "SiteProbes", "SiteSyncResult",
    "StandbyModel",
    "Status",
    "StatementReport", "StatusSite", "Submitted", "SurveyAnswer", "SyncAnswer", "SyncState",
    "SyncStatus",
    "TenancyApplied", "TenancyPlan", "TrustedKey", "Usage", "UsageEntry", "WaveCancelled",
    "WaveDetail", "WaveEvents", "WaveList", "WaveSummary", "WhatIf", "WhoAmI",
    "WorkerLeaseModel", "WorkerProcessModel", "answers",
]
