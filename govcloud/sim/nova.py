"""Nova (compute API v2.1, microversions 2.1–2.96), one instance per region.

This module holds the entry point ``NovaAPI`` (version documents, extensions, the per-region
Nova-only state) and wires the route groups that live in ``nova_*.py``:

* ``nova_flavors``  — flavors, extra specs, flavor access
* ``nova_servers``  — server views, create/list/show/update/delete
* ``nova_server_ops`` — actions, metadata, tags, ips, interfaces, volume attachments
* ``nova_move_ops`` — resize, cold/live migration, shelve/unshelve; os-migrations
* ``nova_admin``    — hypervisors, services, availability zones, aggregates, usage
* ``nova_tenant``   — quota sets, limits, keypairs, server groups
* ``nova_images``   — the deprecated image proxy (before 2.36)

The route groups import only lower modules (``nova_servers`` → ``nova_create`` →
``nova_common``), never this one: they see ``NovaAPI`` as ``nova_common.NovaContext``.

Accounting (quota usage, placement allocations, hypervisor server sets) goes through
``RegionState`` so Nova, Placement and the quota views stay consistent.
"""

from __future__ import annotations

from typing import Any

from govcloud.sim import (
    nova_admin,
    nova_flavors,
    nova_images,
    nova_move_ops,
    nova_server_ops,
    nova_servers,
    nova_tenant,
)
from govcloud.sim.http import Request, Response, Router, json_response, not_found
from govcloud.sim.nova_common import NovaRegionExtra
from govcloud.sim.state import Cloud, RegionState

__all__ = ["NovaAPI", "NovaRegionExtra"]

MIN_VERSION = "2.1"
MAX_VERSION = "2.96"
V21_UPDATED = "2013-07-23T11:33:21Z"


class NovaAPI:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._extra: dict[str, NovaRegionExtra] = {}
        self.flavors = nova_flavors.FlavorRoutes(self)
        self.servers = nova_servers.ServerRoutes(self)
        self.server_ops = nova_server_ops.ServerOpsRoutes(self)
        self.moves = nova_move_ops.MoveActions(self)
        self.admin = nova_admin.AdminRoutes(self)
        self.tenant = nova_tenant.TenantRoutes(self)
        self.images = nova_images.ImageRoutes(self)
        for region in cloud.regions.values():
            self.servers.prewarm(region, f"{cloud.base_url}/{region.name}/compute")

    # --- shared ----------------------------------------------------------------------------

    def region(self, req: Request) -> RegionState:
        region = self.cloud.region(req.region)
        region.tick()
        return region

    def extra(self, region: RegionState) -> NovaRegionExtra:
        ex = self._extra.get(region.name)
        if ex is None:
            ex = self._extra[region.name] = NovaRegionExtra()
            for svc in region.services.values():
                ex.legacy_service_id(svc.id)
        return ex

    # --- routes ----------------------------------------------------------------------------

    def register(self, router: Router) -> None:
        router.add("compute", "GET", "/", self.versions, auth=False)
        router.add("compute", "GET", "/v2.1", self.version, auth=False)
        router.add("compute", "GET", "/v2.1/extensions", self.extensions)
        router.add("compute", "GET", "/v2.1/extensions/{alias}", self.extension)
        self.flavors.register(router)
        self.servers.register(router)
        self.server_ops.register(router)
        self.moves.register(router)
        self.admin.register(router)
        self.tenant.register(router)
        self.images.register(router)

    def _v21(self, req: Request) -> dict[str, Any]:
        return {
            "id": "v2.1",
            "status": "CURRENT",
            "version": MAX_VERSION,
            "min_version": MIN_VERSION,
            "updated": V21_UPDATED,
            "links": [{"rel": "self", "href": f"{req.base_url}/v2.1/"}],
        }

    def versions(self, req: Request) -> Response:
        v20 = {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
               "updated": "2011-01-21T11:33:21Z",
               "links": [{"rel": "self", "href": f"{req.base_url}/v2/"}]}
        return json_response({"versions": [v20, self._v21(req)]})

    def version(self, req: Request) -> Response:
        doc = self._v21(req)
        doc["links"].append({"rel": "describedby", "type": "text/html",
                             "href": "http://docs.openstack.org/"})
        doc["media-types"] = [{"base": "application/json",
                               "type": "application/vnd.openstack.compute+json;version=2.1"}]
        return json_response({"version": doc})

    def extensions(self, req: Request) -> Response:
        return json_response({"extensions": [_extension(*e) for e in EXTENSIONS]})

    def extension(self, req: Request, alias: str) -> Response:
        for e in EXTENSIONS:
            if e[1] == alias:
                return json_response({"extension": _extension(*e)})
        raise not_found("The resource could not be found.")


def _extension(name: str, alias: str, description: str) -> dict[str, Any]:
    return {"name": name, "alias": alias, "description": description,
            "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
            "updated": "2014-12-03T00:00:00Z", "links": []}


# What nova's v2.1 extension info lists (name, alias, description), abridged but faithful.
EXTENSIONS: tuple[tuple[str, str, str], ...] = (
    ("AccessIPs", "os-access-ips", "Access IPs support."),
    ("AdminActions", "os-admin-actions", "Enable admin-only server actions."),
    ("AdminPassword", "os-admin-password", "Admin password management support."),
    ("Aggregates", "os-aggregates", "Admin-only aggregate administration."),
    ("AvailabilityZone", "os-availability-zone", "1. Add availability_zone to the Create "
     "Server API.\n2. Add availability zones describing."),
    ("BlockDeviceMapping", "os-block-device-mapping", "Block device mapping boot support."),
    ("ConfigDrive", "os-config-drive", "Config Drive Extension."),
    ("ConsoleOutput", "os-console-output", "Console log output support, with tailing "
     "ability."),
    ("Consoles", "os-remote-consoles", "Interactive Console support."),
    ("CreateBackup", "os-create-backup", "Create a backup of a server."),
    ("DeferredDelete", "os-deferred-delete", "Instance deferred delete."),
    ("DiskConfig", "os-disk-config", "Disk Management Extension."),
    ("ExtendedAvailabilityZone", "os-extended-availability-zone", "Extended Availability "
     "Zone support."),
    ("ExtendedServerAttributes", "os-extended-server-attributes", "Extended Server "
     "Attributes support."),
    ("ExtendedStatus", "os-extended-status", "Extended Status support."),
    ("ExtendedVolumes", "os-extended-volumes", "Extended Volumes support."),
    ("FlavorAccess", "os-flavor-access", "Flavor access support."),
    ("FlavorExtraSpecs", "os-flavor-extra-specs", "Flavors extra specs support."),
    ("FlavorManage", "os-flavor-manage", "Flavor create/delete API support."),
    ("FlavorRxtx", "os-flavor-rxtx", "Support to show the rxtx status of a flavor."),
    ("Flavors", "flavors", "Flavors Extension."),
    ("Hypervisors", "os-hypervisors", "Admin-only hypervisor administration."),
    ("ImageSize", "image-size", "Adds image size to image listings."),
    ("Keypairs", "os-keypairs", "Keypair Support."),
    ("Limits", "limits", "Limits support."),
    ("Lock", "os-lock-server", "Enable lock/unlock server actions."),
    ("MultipleCreate", "os-multiple-create", "Allow multiple create in the Create Server "
     "v2.1 API."),
    ("PauseServer", "os-pause-server", "Enable pause/unpause server actions."),
    ("QuotaSets", "os-quota-sets", "Quotas management support."),
    ("SchedulerHints", "os-scheduler-hints", "Pass arbitrary key/value pairs to the "
     "scheduler."),
    ("SecurityGroups", "os-security-groups", "Security group support."),
    ("ServerGroups", "os-server-groups", "Server group support."),
    ("ServerMetadata", "server-metadata", "Server metadata Support."),
    ("ServerUsage", "os-server-usage", "Adds launched_at and terminated_at on Servers."),
    ("Servers", "servers", "Servers."),
    ("Services", "os-services", "Services support."),
    ("ServerTags", "os-server-tags", "Server tags support."),
    ("SimpleTenantUsage", "os-simple-tenant-usage", "Simple tenant usage extension."),
    ("SuspendServer", "os-suspend-server", "Enable suspend/resume server actions."),
    ("Versions", "versions", "API Version information."),
    ("VolumeAttachments", "os-volumes", "Volumes support."),
)
