"""Placement internals shared by the handler modules: errors, validation, lookups."""

from __future__ import annotations

import json
import re
import uuid as uuidlib
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

from govcloud.sim.http import ApiError, Request, Response, json_response
from govcloud.sim.model import ResourceProvider
from govcloud.sim.state import Cloud, RegionState

MAX_INT = 2147483647
DEFAULT_CODE = "placement.undefined_code"
CONCURRENT_UPDATE = "placement.concurrent_update"
INVENTORY_INUSE = "placement.inventory.inuse"
DUPLICATE_NAME = "placement.duplicate_name"
PROVIDER_IN_USE = "placement.resource_provider.inuse"
CANNOT_DELETE_PARENT = "placement.resource_provider.cannot_delete_parent"

STANDARD_RESOURCE_CLASSES = (
    "VCPU", "MEMORY_MB", "DISK_GB", "PCI_DEVICE", "SRIOV_NET_VF", "NUMA_SOCKET", "NUMA_CORE",
    "NUMA_THREAD", "NUMA_MEMORY_MB", "IPV4_ADDRESS", "VGPU", "VGPU_DISPLAY_HEAD",
    "NET_BW_EGR_KILOBIT_PER_SEC", "NET_BW_IGR_KILOBIT_PER_SEC", "PCPU",
    "MEM_ENCRYPTION_CONTEXT", "FPGA", "PGPU", "NET_PACKET_RATE_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC", "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
)

# A representative part of os-traits (the standard traits a real Placement syncs at start).
_TRAITS_TEXT = """
COMPUTE_NODE COMPUTE_ACCELERATORS COMPUTE_ARCH_X86_64 COMPUTE_ARCH_AARCH64
COMPUTE_DEVICE_TAGGING COMPUTE_EPHEMERAL_ENCRYPTION COMPUTE_IMAGE_TYPE_QCOW2
COMPUTE_IMAGE_TYPE_RAW COMPUTE_IMAGE_TYPE_ISO COMPUTE_IMAGE_TYPE_AMI COMPUTE_IMAGE_TYPE_VMDK
COMPUTE_NET_ATTACH_INTERFACE COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG COMPUTE_NET_VIF_MODEL_VIRTIO
COMPUTE_NET_VIF_MODEL_E1000 COMPUTE_RESCUE_BFV COMPUTE_SAME_HOST_COLD_MIGRATE
COMPUTE_SECURITY_UEFI_SECURE_BOOT COMPUTE_STATUS_DISABLED COMPUTE_TRUSTED_CERTS
COMPUTE_VOLUME_ATTACH_WITH_TAG COMPUTE_VOLUME_EXTEND COMPUTE_VOLUME_MULTI_ATTACH
COMPUTE_GRAPHICS_MODEL_VGA COMPUTE_GRAPHICS_MODEL_VIRTIO COMPUTE_SOCKET_PCI_NUMA_AFFINITY
COMPUTE_STORAGE_BUS_VIRTIO COMPUTE_STORAGE_BUS_SCSI COMPUTE_STORAGE_BUS_IDE
HW_CPU_X86_AVX HW_CPU_X86_AVX2 HW_CPU_X86_AVX512F HW_CPU_X86_SSE HW_CPU_X86_SSE2
HW_CPU_X86_SSE41 HW_CPU_X86_SSE42 HW_CPU_X86_AESNI HW_CPU_X86_VMX HW_CPU_X86_SVM
HW_CPU_HYPERTHREADING HW_NIC_SRIOV HW_NIC_OFFLOAD_TSO HW_GPU_API_VULKAN HW_NUMA_ROOT
MISC_SHARES_VIA_AGGREGATE STORAGE_DISK_HDD STORAGE_DISK_SSD
"""
STANDARD_TRAITS = frozenset(_TRAITS_TEXT.split())

RC_PATTERN = re.compile(r"^[A-Z0-9_]+$")
CUSTOM_PATTERN = re.compile(r"^CUSTOM_[A-Z0-9_]+$")
CONSUMER_TYPE_PATTERN = re.compile(r"^[A-Z0-9_]+$")

_EXPLAIN = {
    400: "The server could not comply with the request since it is either malformed or "
         "otherwise incorrect.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The method specified is not allowed for this resource.",
    409: "There was a conflict when trying to complete your request.",
    415: "The request media type is not supported by this server.",
}

_INV_FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")
_INV_DEFAULTS: dict[str, Any] = {"reserved": 0, "min_unit": 1, "max_unit": MAX_INT,
                                 "step_size": 1, "allocation_ratio": 1.0}


def perr(req: Request, status: int, detail: str, code: str = DEFAULT_CODE) -> ApiError:
    """An error as webob + placement's JSON formatter render it."""
    message = f"{_EXPLAIN.get(status, '')}\n\n {detail}  ".lstrip("\n")
    return ApiError(status, message, kind=code if req.mv_at_least(1, 23) else None)


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuidlib.UUID(value)
    except ValueError:
        return False
    return True


def _norm_uuid(value: str) -> str:
    return str(uuidlib.UUID(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Extra:
    """Placement state the shared model does not hold: custom traits and resource classes."""

    def __init__(self) -> None:
        self.custom_traits: set[str] = set()
        self.custom_rcs: list[str] = []


class PlacementBase:
    """Lookups, validation and response helpers common to every Placement handler."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.extra: dict[str, _Extra] = {}

    # --- helpers -------------------------------------------------------------------------

    def _region(self, req: Request) -> RegionState:
        return self.cloud.region(req.region)

    def _x(self, req: Request) -> _Extra:
        return self.extra.setdefault(req.region or "", _Extra())

    @staticmethod
    def _policy(req: Request, rule: str) -> None:
        if not req.auth.is_admin:
            raise perr(req, 403, f"Policy does not allow placement:{rule} to be performed.")

    @staticmethod
    def _prefix(req: Request) -> str:
        return urlsplit(req.base_url).path

    def _rp(self, req: Request, rp_uuid: str) -> ResourceProvider:
        rp = self._region(req).providers.get(rp_uuid)
        if rp is None and _is_uuid(rp_uuid):
            rp = self._region(req).providers.get(_norm_uuid(rp_uuid))
        if rp is None:
            raise perr(req, 404, f"No resource provider with uuid {rp_uuid} found")
        return rp

    def _body(self, req: Request) -> Any:
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise perr(req, 415, f"The media type {ctype or None} is not supported, use "
                                 "application/json")
        try:
            return json.loads(req.body or b"")
        except ValueError as exc:
            raise perr(req, 400, f"Malformed JSON: {exc}") from None

    def _invalid(self, req: Request, why: str) -> ApiError:
        return perr(req, 400, f"JSON does not validate: {why}")

    def _check_obj(self, req: Request, doc: Any, allowed: tuple[str, ...],
                   required: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(doc, dict):
            raise self._invalid(req, f"{json.dumps(doc)} is not of type 'object'")
        extra = [k for k in doc if k not in allowed]
        if extra:
            raise self._invalid(req, "Additional properties are not allowed ("
                                + ", ".join(f"'{k}'" for k in extra)
                                + (" were" if len(extra) > 1 else " was") + " unexpected)")
        for k in required:
            if k not in doc:
                raise self._invalid(req, f"'{k}' is a required property")
        return doc

    def _known_rcs(self, req: Request) -> set[str]:
        return set(STANDARD_RESOURCE_CLASSES) | set(self._x(req).custom_rcs)

    def _known_traits(self, req: Request) -> set[str]:
        known = set(STANDARD_TRAITS) | self._x(req).custom_traits
        for rp in self._region(req).providers.values():
            known |= rp.traits  # traits seeded on providers exist
        return known

    def _ok(self, req: Request, body: Any, status: int = 200, **headers: str) -> Response:
        if req.mv_at_least(1, 15):
            headers.setdefault("Last-Modified", formatdate(usegmt=True))
            headers.setdefault("Cache-Control", "no-cache")
        return json_response(body, status, **headers)

    @staticmethod
    def _empty(status: int = 204, **headers: str) -> Response:
        return Response(status=status, headers=dict(headers))

    def _need(self, req: Request, major: int, minor: int) -> None:
        """Routes added in a later microversion are 404 before it (placement's behaviour)."""
        if not req.mv_at_least(major, minor):
            raise perr(req, 404, "The resource could not be found.")

    def _parse_resources(self, req: Request, raw: str, what: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in raw.split(","):
            name, _, amount = item.partition(":")
            name = name.strip()
            try:
                value = int(amount)
            except ValueError:
                value = -1
            if not name or value < 0 or (value == 0 and what == "resources"):
                raise perr(req, 400, f'Badly formed resources parameter. Expected resources '
                                     f'query string parameter in form: ?resources=VCPU:2,'
                                     f'MEMORY_MB:1024. Got: {raw}.',
                           "placement.query.bad_value")
            if name in out:
                raise perr(req, 400, f"Badly formed resources parameter. Resource class "
                                     f"{name} is specified more than once.")
            out[name] = value
        unknown = sorted(n for n in out if n not in self._known_rcs(req))
        if unknown:
            raise perr(req, 400, f"Invalid resource class in {what} parameter: No such "
                                 f"resource class {unknown[0]}.")
        return out

    def _parse_traits(self, req: Request, raw: str) -> tuple[set[str], set[str]]:
        required, forbidden = set(), set()
        for item in raw.split(","):
            item = item.strip()
            if item.startswith("!") and req.mv_at_least(1, 22):
                forbidden.add(item[1:])
            elif item:
                required.add(item)
        unknown = sorted((required | forbidden) - self._known_traits(req))
        if unknown or not (required or forbidden):
            raise perr(req, 400, f'Invalid trait(s) in "required" parameter: No such trait(s):'
                                 f' {", ".join(unknown)}.' if unknown else
                                 'Invalid query string parameters: Expected "required" '
                                 'parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC.')
        return required, forbidden

    def _member_of(self, req: Request) -> list[tuple[set[str], bool]]:
        out = []
        values = req.args("member_of")
        if len(values) > 1 and not req.mv_at_least(1, 24):
            values = values[-1:]
        for raw in values:
            negate = raw.startswith("!") and req.mv_at_least(1, 32)
            raw = raw[1:] if negate else raw
            raw = raw[3:] if raw.startswith("in:") else raw
            aggs = {a for a in raw.split(",") if a}
            if not aggs or not all(_is_uuid(a) for a in aggs):
                raise perr(req, 400, f"Invalid query string parameters: Expected 'member_of' "
                                     f"parameter to contain valid UUID(s). Got: {raw}")
            out.append((aggs, negate))
        return out

    def _has_room(self, rp: ResourceProvider, resources: dict[str, int]) -> bool:
        for rc, amount in resources.items():
            inv = rp.inventories.get(rc)
            if inv is None:
                return False
            max_unit = inv.max_unit or inv.total
            if amount < inv.min_unit or amount > max_unit or amount % (inv.step_size or 1):
                return False
            capacity = (inv.total - inv.reserved) * inv.allocation_ratio
            if rp.used.get(rc, 0) + amount > capacity:
                return False
        return True

