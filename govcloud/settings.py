"""govcloud's settings: environment (``GOVCLOUD_*``) over a config file over defaults.

The config file is ``$GOVCLOUD_CONFIG`` if set, else ``$XDG_CONFIG_HOME/govcloud/config.yaml``
or ``config.toml`` (``~/.config`` when ``XDG_CONFIG_HOME`` is unset). OpenStack credentials are
not settings: they stay in ``clouds.yaml``; a site only names its cloud and region there.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from govcloud.config_files import (  # where the configuration lives
    ConfigFileSource,
    config_file,
    data_dir,
    read_config_file,
    state_dir,
)
from govcloud.domain.legacy import check_path
from govcloud.domain.notifications import LANGUAGES, Language, usable_address
from govcloud.domain.notify_delivery import routes_from_config
from govcloud.domain.protection import ProtectionPolicy, StandbyKind
from govcloud.domain.protection_config import placement_from_config, protection_from_config
from govcloud.domain.protection_schedule import ProtectionSchedule
from govcloud.domain.replicas import LeaseTiming
from govcloud.domain.retention import RetentionPolicy
from govcloud.domain.sites import Site, check_sites
from govcloud.domain.text import control_characters
from govcloud.errors import GovCloudError, InvalidInput, NotFound
from govcloud.site_config import SiteConfig, default_site_configs, to_sites

ENV_PREFIX = "GOVCLOUD_"
def _default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'govcloud.db'}"


ProtectKind = Literal["hot", "warm", "cold"]


def _protect_every() -> dict[ProtectKind, float]:
    return {"hot": 300.0, "warm": 3600.0, "cold": 86400.0}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    sites: dict[str, SiteConfig] = Field(default_factory=default_site_configs)
    database_url: str = Field(default_factory=_default_database_url, min_length=1)
    clouds_yaml: Path | None = None
    sync_interval_s: float = Field(default=60.0, gt=0, description="incremental sync period")
    full_sync_interval_s: float = Field(default=900.0, gt=0,
                                        description="full reconcile period")
    worker_niceness: int = Field(
        default=10, ge=0, le=19, description="how much lower than the API process's the "
                                             "worker process's scheduling priority is (nice)")
    tombstone_retention_days: float = Field(
        default=30.0, ge=0, description="how long rows of deleted servers are kept (full syncs "
                                        "purge older ones)")
    # retention (docs/operator-guide.md, "What stays bounded"); the audit log is never compacted
    retention_events_days: float = Field(
        default=90.0, ge=1, le=36500, description="progress events of requests, waves and "
                                                  "drains are kept this long")
    retention_notifications_days: float = Field(
        default=90.0, ge=1, le=36500, description="sent and dead notifications are kept "
                                                  "this long")
    retention_samples_days: float = Field(
        default=30.0, ge=1, le=36500, description="capacity samples are kept as taken this "
                                                  "long, then one per site and hour")
    retention_sample_hours_days: float = Field(
        default=400.0, ge=1, le=36500, description="hourly capacity samples are kept this "
                                                   "long")
    retention_alerts_days: float = Field(
        default=400.0, ge=1, le=36500, description="episodes of Prometheus' alerts are kept "
                                                   "this long after they ended (the "
                                                   "scorecard's alert history)")
    compact_interval_s: float = Field(
        default=86400.0, ge=60, le=30 * 86400, description="how often the server compacts "
                                                           "the database")
    # provisioning (docs/provisioning.md)
    dr_policy: list[dict[str, Any]] | None = Field(
        default=None, description="DR level → site roles; None: the built-in table")
    dr_city_sites: bool = Field(
        default=False, description="a city's own tenants fail over to their city's site in "
                                   "the lose-a-site what-if (docs/city-clouds.md)")
    # disaster recovery (docs/dr.md)
    dr_protection: dict[str, Any] | None = Field(
        default=None, description="overrides of the protection policy (copy kinds, RPO/RTO "
                                  "targets, drill interval per DR level); None: built-in")
    dr_protect_worker: bool = Field(
        default=True, description="run the protection worker (cycles of every copy when due) "
                                  "in govcloud serve")
    dr_protect_every: dict[ProtectKind, float] = Field(
        default_factory=_protect_every,
        description="seconds between two protection cycles of a copy, per copy kind")
    dr_protect_backoff_s: float = Field(default=60.0, gt=0, le=86400,
                                        description="first wait after a failed cycle "
                                                    "(doubled per failure)")
    dr_protect_backoff_max_s: float = Field(default=21600.0, gt=0, le=7 * 86400,
                                            description="longest wait after failed cycles")
    dr_protect_keep: int = Field(default=100, ge=1, le=100_000,
                                 description="recovery points kept per copy server (the "
                                             "latest good one always)")
    dr_protect_paths: list[str] = Field(
        default_factory=lambda: ["/srv", "/var/lib/app"], min_length=1, max_length=32,
        description="the data paths a file-sync cycle copies from a production guest")
    dr_protect_tick_s: float = Field(default=30.0, gt=0,
                                     description="how often the protection worker looks for "
                                                 "copies due")
    dr_protect_timeout_s: float = Field(default=3600.0, gt=0,
                                        description="one cycle's sync job timeout")
    dr_protect_concurrency: int = Field(default=4, ge=1, le=64,
                                        description="cycles run at once")
    dr_trust_on_first_use: str | None = Field(
        default=None, min_length=1, max_length=500,
        description="the reason to trust a DR server's first SSH host key when neither its "
                    "cloud (console log) nor known_hosts gives one: an override, audited at "
                    "each use (docs/dr.md, Host keys); unset: such a server is refused")
    dr_protect_volumes: Literal["auto", "always", "never"] = Field(
        default="auto", description="protect a copy by Cinder backups of its member's volumes: "
                                    "auto (when the member has volumes attached), always, never "
                                    "(file-level sync over SSH)")
    dr_protect_volume_keep: int = Field(default=7, ge=1, le=1000,
                                        description="backups kept per volume and site (the "
                                                    "latest good point's always; also the "
                                                    "longest incremental chain)")
    dr_replicated_volume_type: str = Field(
        default="replicated-sync", min_length=1, max_length=255,
        description="the Cinder volume type that replicates synchronously (RPO 0, DR level 6)")
    auto_approve: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="department → {max_vcpu, per_month}")
    provision_concurrency: int = Field(default=16, ge=1, le=256,
                                       description="servers created at once, over all sites")
    provision_active_timeout_s: float = Field(default=600.0, gt=0)
    provision_retries: int = Field(default=3, ge=0, le=10,
                                   description="retries of a transient cloud error")
    provision_backoff_s: float = Field(default=0.5, ge=0)
    provision_keep_failed: bool = Field(default=False,
                                        description="keep a failed request's servers")
    provision_group_policy: Literal["anti-affinity", "soft-anti-affinity"] = "anti-affinity"
    provision_playbooks: dict[str, Path] = Field(
        default_factory=dict, description="post-provision playbooks a request may name")
    provision_playbook_timeout_s: float = Field(default=900.0, gt=0)
    provision_runner_dir: Path | None = Field(
        default=None, description="ansible-runner jobs (default: the XDG state dir)")
    provision_poll_s: float = Field(default=1.0, gt=0,
                                    description="how often the job worker looks for work")
    # a system's lifecycle (docs/lifecycle.md)
    resize_soak_s: float = Field(default=0.0, ge=0, le=86_400,
                                 description="how long a resized server waits in "
                                             "VERIFY_RESIZE before it is confirmed")
    retire_grace_days: float = Field(default=14.0, ge=0, le=365,
                                     description="a retirement's grace period (servers shut "
                                                 "off) when the request names none")
    retire_keep_days: float = Field(default=30.0, ge=0, le=3650,
                                    description="how long a retirement's final snapshots are "
                                                "kept when the request names no time")
    # migration (docs/migration.md)
    migrate_dir: Path | None = Field(
        default=None, description="known_hosts, run artifacts and staging; default "
                                  "$XDG_STATE_HOME/govcloud/migrate")
    ssh_key: Path | None = Field(default=None, description="private key for legacy hosts "
                                                           "and targets (a path, never the key)")
    become_password: SecretStr | None = None
    migrate_concurrency: int = Field(default=8, ge=1, le=256,
                                     description="hosts surveyed or migrated at once")
    ssh_timeout_s: float = Field(default=15.0, gt=0)
    step_timeout_s: float = Field(default=3600.0, gt=0, description="a step run's job timeout")
    step_idle_timeout_s: float = Field(default=600.0, gt=0,
                                       description="a step run without output this long ends")
    migrate_python: str = Field(default="auto_silent",
                                description="Python on legacy hosts and targets for Ansible "
                                            "(an absolute path, or auto_silent to discover)")
    migrate_target: dict[str, Any] = Field(
        default_factory=lambda: {"flavor": "gc.c2m4", "image": "cirros-0.6.2-x86_64-disk",
                                 "user": "root",
                                 "network": {"PROD": "prod-net", "DR-LOCAL": "dr-local-net",
                                             "DR-REMOTE": "dr-remote-net"}},
        description="what a provisioned migration target is made of (flavor, image, network "
                    "per site, login user)")
    migrate_host_key_wait_s: float = Field(
        default=300.0, gt=0, le=3600, description="how long to wait for a new target's "
                                                  "console log to show its SSH host keys "
                                                  "(cloud-init prints them once booted)")
    migrate_stale_after_s: float = Field(
        default=30.0, gt=0, description="a wave whose run has not beaten its heartbeat this "
                                        "long may be taken over (its control plane died)")
    # high availability (docs/high-availability.md): several replicas on one PostgreSQL
    lease_ttl_s: float = Field(
        default=15.0, gt=0, le=600, description="a background worker's lease lasts this long "
                                                "unless its replica renews it")
    lease_renew_s: float = Field(
        default=5.0, gt=0, le=300, description="how often a replica renews its leases and "
                                               "looks for expired ones (at most half the ttl)")
    replica_url: str | None = Field(
        default=None, max_length=255,
        description="the URL clients reach this replica at, shown by `govcloud status` "
                    "(default: http://HOST:PORT of govcloud serve)")
    # the API (docs/security.md, "Input limits")
    max_request_bytes: int = Field(
        default=1 << 20, ge=1024, le=64 << 20,
        description="largest request body the API reads (bytes); a larger one is refused "
                    "with 413")
    # monitors (docs/metrics.md)
    probe_interval_s: float = Field(default=30.0, gt=0, description="region API probe period")
    probe_timeout_s: float = Field(default=5.0, gt=0, description="one probe's timeout")
    metrics_auth: Literal["required", "none"] = Field(
        default="required", description="required: /metrics answers only a bearer token "
                                        "(metrics_token, metrics_token_file) or basic auth "
                                        "(metrics_user, metrics_password); none: anyone who "
                                        "reaches the port may read it (logged at start)")
    metrics_token: SecretStr | None = Field(default=None, min_length=16, max_length=512,
                                            description="bearer token of /metrics (prefer "
                                                        "metrics_token_file)")
    metrics_token_file: Path | None = Field(
        default=None, description="a file holding the bearer token of /metrics (read again "
                                  "when it changes); govcloud serve makes one in the XDG "
                                  "state dir when no credential is set")
    metrics_user: str | None = Field(default=None, min_length=1, max_length=255,
                                     description="basic auth user of /metrics")
    metrics_password: SecretStr | None = Field(default=None, min_length=1, max_length=512,
                                               description="basic auth password of /metrics")
    metrics_tls_cert: Path | None = Field(default=None,
                                          description="TLS certificate of --metrics-port")
    metrics_tls_key: Path | None = Field(default=None, description="its private key")
    # the audit log's key and anchor (docs/security.md); ``govcloud serve`` and ``admin
    # bootstrap`` default them to the XDG state dir (with_audit_defaults), an app built
    # without them keeps an unkeyed log
    audit_key_file: Path | None = Field(
        default=None, description="the audit key (64 hex digits, mode 0600; made on first "
                                  "start); never inside the database")
    audit_anchor_file: Path | None = Field(
        default=None, description="where signed checkpoints of the audit chain are appended "
                                  "(JSON lines)")
    audit_checkpoint_interval_s: float = Field(
        default=60.0, gt=0, le=86400, description="a checkpoint at least this often while "
                                                  "the audit log grows")
    audit_checkpoint_entries: int = Field(
        default=100, ge=1, le=1_000_000, description="a checkpoint as soon as this many entries "
                                                     "came after the last one")
    # notifications to the departments (docs/notifications.md)
    notify_worker: bool | None = Field(
        default=None, description="run the notifier in govcloud serve; None: when SMTP or a "
                                  "webhook is configured")
    notify_smtp_host: str | None = Field(default=None, min_length=1, max_length=255,
                                         description="the SMTP server mail goes through; "
                                                     "None: no e-mail")
    notify_smtp_port: int = Field(default=25, ge=1, le=65535)
    notify_smtp_from: str | None = Field(default=None, max_length=254,
                                         description="the From address (needed with a host)")
    notify_smtp_starttls: bool = Field(default=False,
                                       description="STARTTLS before anything else (the "
                                                   "server's certificate is checked)")
    notify_smtp_user: str | None = Field(default=None, min_length=1, max_length=255,
                                         description="log in as this user (after STARTTLS)")
    notify_smtp_password: SecretStr | None = None
    notify_smtp_timeout_s: float = Field(default=15.0, gt=0, le=300)
    notify_webhooks: dict[str, Any] | None = Field(
        default=None, description="{global: URLS, departments: {code: URLS}}; a URL, "
                                  "{url, secret} or a list of them")
    notify_webhooks_file: Path | None = Field(
        default=None, description="a YAML file of the same shape (read at start)")
    notify_webhook_secret: SecretStr | None = Field(
        default=None, description="the HMAC-SHA256 key of every webhook without its own")
    notify_webhook_timeout_s: float = Field(default=10.0, gt=0, le=300)
    notify_languages: list[Language] = Field(
        default_factory=lambda: list(LANGUAGES), min_length=1, max_length=2,
        description="the languages of every message, in this order")
    notify_utc_offset_hours: float = Field(default=8.0, ge=-14, le=14,
                                           description="times in messages are shown at this "
                                                       "offset from UTC (China: 8)")
    notify_poll_s: float = Field(default=15.0, gt=0, le=3600,
                                 description="how often the notifier looks for messages due")
    notify_backoff_s: list[float] = Field(
        default_factory=lambda: [60.0, 300.0, 900.0, 3600.0], min_length=1, max_length=20,
        description="waits after the 1st, 2nd, ... failed attempt (the last one doubled "
                    "after that)")
    notify_backoff_max_s: float = Field(default=21600.0, gt=0, le=7 * 86400,
                                        description="longest wait between two attempts")
    notify_max_attempts: int = Field(default=10, ge=1, le=100,
                                     description="attempts before a message is given up "
                                                 "(dead)")
    notify_batch: int = Field(default=50, ge=1, le=1000,
                              description="messages one round of the notifier sends at most")

    # change governance (docs/changes.md)
    change_control: Literal["enforce", "off"] = Field(
        default="enforce", description="enforce: operations that alter a department's service "
                                       "(tenancy apply, host maintenance, migration waves, "
                                       "DR drills and failovers) refuse to run without an "
                                       "approved change in its window; off: a change is "
                                       "checked only when one is given (tests, the demo)")
    change_review_hours: float = Field(
        default=72.0, gt=0, le=720, description="an emergency change is approved after the "
                                                "fact within this many hours, flagged until")
    change_window_poll_s: float = Field(
        default=30.0, ge=0.1, le=3600, description="how often the change-window worker looks "
                                                   "for waves and drills waiting for a window "
                                                   "that has opened")
    # the operator scorecard's targets (docs/reports.md, the agreement with the operator)
    scorecard_availability_pct: float = Field(
        default=99.5, ge=0, le=100, description="a site's APIs answer this share of the "
                                                "hours they are tried (percent)")
    scorecard_fulfilment_hours: float = Field(
        default=72.0, gt=0, le=8760, description="a request is done this many hours after "
                                                 "it was submitted, at most")
    scorecard_headroom_pct: float = Field(
        default=20.0, ge=0, le=100, description="free vCPU on working hosts, percent of a "
                                                "site's capacity, at least")
    scorecard_days_to_full: float = Field(
        default=90.0, ge=0, le=3650, description="days until a site's vCPU fills at its "
                                                 "trend, at least")

    @field_validator("sites")
    @classmethod
    def _sites_are_consistent(cls, value: dict[str, SiteConfig]) -> dict[str, SiteConfig]:
        try:
            check_sites(to_sites(value))
        except GovCloudError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("notify_backoff_s")
    @classmethod
    def _backoff_is_positive(cls, value: list[float]) -> list[float]:
        if any(not 0 < v <= 7 * 86400 for v in value):
            raise ValueError("every wait must be between 0 and 7 days (seconds)")
        return value

    @field_validator("notify_webhooks")
    @classmethod
    def _webhooks_are_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value:
            try:  # URLs and shape; whether each has a secret is checked at start
                routes_from_config(value, require_secrets=False)
            except GovCloudError as exc:
                raise ValueError(exc.message) from None
        return value

    @model_validator(mode="after")
    def _smtp_has_a_sender(self) -> Settings:
        if self.notify_smtp_host is not None and (
                self.notify_smtp_from is None or usable_address(self.notify_smtp_from) is None):
            raise ValueError("notify_smtp_from: an SMTP host needs a From address "
                             "(e.g. govcloud@cloud.example.gov.cn)")
        if self.notify_smtp_password is not None and self.notify_smtp_user is None:
            raise ValueError("notify_smtp_password: give notify_smtp_user too")
        return self

    @field_validator("replica_url")
    @classmethod
    def _replica_url_is_http(cls, value: str | None) -> str | None:
        if value is not None and (not re.fullmatch(r"https?://[^\s]{1,240}", value)
                                  or control_characters(value)):
            raise ValueError("replica_url must be an http(s) URL without spaces")
        return value

    @model_validator(mode="after")
    def _lease_timing_is_sound(self) -> Settings:
        try:
            LeaseTiming(self.lease_ttl_s, self.lease_renew_s)
        except GovCloudError as exc:
            raise ValueError(f"{exc.message} ({exc.hint})") from None
        return self

    def lease_timing(self) -> LeaseTiming:
        """The background workers' lease timing (docs/high-availability.md)."""
        return LeaseTiming(self.lease_ttl_s, self.lease_renew_s)

    @model_validator(mode="after")
    def _metrics_auth_is_consistent(self) -> Settings:
        if (self.metrics_user is None) != (self.metrics_password is None):
            raise ValueError("metrics_user and metrics_password: give both (basic auth on "
                             "/metrics) or neither")
        if self.metrics_auth == "none" and self.metrics_credentials_set():
            raise ValueError("metrics_auth is none but a /metrics credential is set: remove "
                             "the credential, or leave metrics_auth at required")
        return self

    def metrics_credentials_set(self) -> bool:
        """Whether any credential of /metrics is configured (token, token file, basic)."""
        return (self.metrics_token is not None or self.metrics_token_file is not None
                or self.metrics_user is not None)

    @field_validator("dr_protection")
    @classmethod
    def _protection_is_valid(cls, value: dict[str, Any] | None,
                             info: ValidationInfo) -> dict[str, Any] | None:
        if value is not None:
            try:
                protection_from_config(value, placement_from_config(info.data.get("dr_policy")))
            except GovCloudError as exc:
                raise ValueError(f"{exc.message} ({exc.hint})" if exc.hint else exc.message) \
                    from None
        return value

    @field_validator("dr_protect_every")
    @classmethod
    def _protect_every_is_positive(cls, value: dict[ProtectKind, float]
                                   ) -> dict[ProtectKind, float]:
        for kind, seconds in value.items():
            if not 0 < seconds <= 366 * 86400:
                raise ValueError(f"dr_protect_every.{kind}: {seconds:g} s is not between 0 "
                                 "and 366 days")
        return {**_protect_every(), **value}

    @field_validator("dr_trust_on_first_use")
    @classmethod
    def _tofu_has_a_reason(cls, value: str | None) -> str | None:
        if value is None:
            return None
        reason = " ".join(value.split())
        if not reason:
            raise ValueError("dr_trust_on_first_use must give a reason (or be unset)")
        return reason

    @field_validator("dr_protect_paths")
    @classmethod
    def _protect_paths_are_absolute(cls, value: list[str]) -> list[str]:
        try:
            return [check_path(p, "dr_protect_paths", "a data path").rstrip("/") or "/"
                    for p in value]
        except GovCloudError as exc:
            raise ValueError(exc.message) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_settings = ConfigFileSource(settings_cls, overridden_by=env_settings)
        return init_settings, env_settings, file_settings

    def with_audit_defaults(self) -> Settings:
        """These settings with the audit key and anchor files in the XDG state dir when
        unset (what a real server runs with)."""
        return self.model_copy(update={
            "audit_key_file": self.audit_key_file or state_dir() / "audit.key",
            "audit_anchor_file": self.audit_anchor_file or state_dir() / "audit-anchor.jsonl"})

    def with_metrics_defaults(self) -> Settings:
        """These settings with a bearer token file for /metrics in the XDG state dir when
        /metrics requires a credential and none is set (what a real server runs with; the
        file is made on first start)."""
        if self.metrics_auth != "required" or self.metrics_credentials_set():
            return self
        return self.model_copy(update={"metrics_token_file": state_dir() / "metrics.token"})

    def migrate_path(self) -> Path:
        """Where migration keeps known_hosts, run artifacts and staged data."""
        return self.migrate_dir or state_dir() / "migrate"

    def site_list(self) -> tuple[Site, ...]:
        """The configured sites as domain objects, production first."""
        return check_sites(to_sites(self.sites))

    def retention_policy(self) -> RetentionPolicy:
        """What the compaction keeps (``govcloud admin compact``, the compaction worker)."""
        return RetentionPolicy(
            events_days=self.retention_events_days,
            notifications_days=self.retention_notifications_days,
            samples_days=self.retention_samples_days,
            sample_hours_days=max(self.retention_sample_hours_days,
                                  self.retention_samples_days),
            tombstone_days=max(1.0, self.tombstone_retention_days),
            alerts_days=self.retention_alerts_days)

    def protection_policy(self) -> ProtectionPolicy:
        """The protection policy in force: the built-in table with ``dr_protection`` over it,
        its copies following ``dr_policy`` (docs/dr.md)."""
        return protection_from_config(self.dr_protection, placement_from_config(self.dr_policy))

    def protection_schedule(self) -> ProtectionSchedule:
        """The protection cycles' schedule: intervals per copy kind, backoff, retention."""
        return ProtectionSchedule(
            every={StandbyKind(k): timedelta(seconds=v)
                   for k, v in self.dr_protect_every.items()},
            backoff=timedelta(seconds=self.dr_protect_backoff_s),
            backoff_max=timedelta(seconds=max(self.dr_protect_backoff_max_s,
                                              self.dr_protect_backoff_s)),
            keep=self.dr_protect_keep)

    def get_site(self, name: str) -> Site:
        for site in self.site_list():
            if site.name == name:
                return site
        known = ", ".join(s.name for s in self.site_list())
        raise NotFound(f"no site named {name!r}", hint=f"configured sites: {known}")


def _where(field: str) -> str:
    """Where a bad value for ``field`` most likely came from, for the hint."""
    env = f"{ENV_PREFIX}{field.upper()}"
    if any(k.upper() == env for k in os.environ):
        return f"the environment variable {env}"
    path = config_file()
    if path is not None and field in read_config_file(path):
        return f"the config file {path}"
    return f"the config file or {env}"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; any problem is an InvalidInput naming where to fix it."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        fields = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            problems.append(f"{loc}: {err['msg']}")
            if err["loc"]:
                fields.append(str(err["loc"][0]))
        where = _where(fields[0]) if fields else "the config file"
        raise InvalidInput("invalid settings: " + "; ".join(problems),
                           hint=f"fix {where} (see docs/configuration.md)") from None
    except SettingsError as exc:
        match = re.search(r'field "(\w+)"', str(exc))
        var = f"{ENV_PREFIX}{match.group(1).upper()}" if match else f"{ENV_PREFIX}*"
        raise InvalidInput(f"invalid settings: {exc}",
                           hint=f"{var} must hold JSON (see docs/configuration.md)") from None
