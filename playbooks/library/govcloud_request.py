#!/usr/bin/python
"""Ansible module: make sure a system is requested (and provisioned) through govcloud's API."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: govcloud_request
short_description: Request (and wait for) a system's servers through the govcloud control plane
description:
  - Submits a provisioning request to govcloud's API unless one for the same department and
    system is already there (submitted, approved, provisioning or done); a second run with the
    same request changes nothing.
  - With O(wait), waits until the request is done (approval, or the department's
    auto-approval, then provisioning) and fails if it is rejected, fails or times out.
  - Supports check mode and diff mode (the request that would be submitted).
options:
  server:
    description: Control-plane URL, e.g. http://127.0.0.1:8780 (default env GOVCLOUD_SERVER).
    type: str
  token:
    description: API token (default env GOVCLOUD_TOKEN).
    type: str
  request:
    description: The request, as in docs/provisioning.md (department, system, servers, ...).
    type: dict
    required: true
  wait:
    description: Wait until the request is done.
    type: bool
    default: false
  timeout:
    description: Seconds to wait at most.
    type: int
    default: 1800
"""

EXAMPLES = r"""
- name: case management for the Public Security Department
  govcloud_request:
    request: "{{ lookup('file', 'requests/gd-psd-case.yaml') | from_yaml }}"
    wait: true
"""

RETURN = r"""
request:
  description: The request as the API returns it (id, state, approver, placement, ...).
  type: dict
  returned: unless in check mode with nothing submitted yet
"""

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

LIVE = ("submitted", "approved", "provisioning", "done")
FINAL = ("done", "failed", "rejected", "cancelled")


class ApiError(Exception):
    pass


def call(server: str, token: str, method: str, path: str, body: Any = None,
         **params: Any) -> Any:
    url = server.rstrip("/") + "/api/v1" + path
    query = [(k, v) for k, v in params.items() if v is not None]
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={  # noqa: S310
        "Authorization": "Bearer " + token, "Content-Type": "application/json",
        "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - the API's URL
            return json.loads(resp.read().decode() or "null")
    except urllib.error.HTTPError as exc:
        try:
            err = json.loads(exc.read().decode())["error"]
            text = err["message"] + (f" (hint: {err['hint']})" if err.get("hint") else "")
        except (ValueError, KeyError, TypeError):
            text = f"HTTP {exc.code}"
        raise ApiError(text) from None
    except urllib.error.URLError as exc:
        raise ApiError(f"cannot reach {server}: {exc.reason}") from None


def comparable(spec: dict[str, Any]) -> dict[str, Any]:
    """The request's fields as the API stores them (dr_level and volumes defaulted)."""
    servers = []
    for g in spec.get("servers") or []:
        g = dict(g)
        g.setdefault("volumes", [])
        servers.append(g)
    return {"department": spec.get("department"), "system": spec.get("system"),
            "servers": servers}


def main() -> None:
    module = AnsibleModule(argument_spec={
        "server": {"type": "str"}, "token": {"type": "str", "no_log": True},
        "request": {"type": "dict", "required": True},
        "wait": {"type": "bool", "default": False},
        "timeout": {"type": "int", "default": 1800}}, supports_check_mode=True)
    p = module.params
    server: str = p["server"] or os.environ.get("GOVCLOUD_SERVER") or ""
    token: str = p["token"] or os.environ.get("GOVCLOUD_TOKEN") or ""
    if not server or not token:
        module.fail_json(msg="server and token are required (or GOVCLOUD_SERVER and "
                             "GOVCLOUD_TOKEN in the environment)")
    spec = p["request"]
    try:
        listed = call(server, token, "GET", "/requests", department=spec.get("department"))
        existing = [r for r in listed["requests"]
                    if r["system"] == spec.get("system") and r["state"] in LIVE]
        changed = False
        if existing:
            current = existing[0]
            if comparable(current["spec"]) != comparable(spec):
                module.fail_json(msg=f"request {current['id']} for {spec.get('department')}/"
                                     f"{spec.get('system')} exists with a different content; "
                                     "cancel it first or use another system name",
                                 request=current)
        else:
            changed = True
            diff = {"before": {}, "after": spec}
            if module.check_mode:
                module.exit_json(changed=True, diff=diff, request=None)
            current = call(server, token, "POST", "/requests", spec)
        if p["wait"] and not module.check_mode:
            deadline = time.monotonic() + p["timeout"]
            while current["state"] not in FINAL:
                if time.monotonic() > deadline:
                    module.fail_json(msg=f"request {current['id']} still {current['state']} "
                                         f"after {p['timeout']} s",
                                     changed=changed, request=current)
                time.sleep(1)
                current = call(server, token, "GET", f"/requests/{current['id']}")
            if current["state"] != "done":
                why = current.get("error") or current.get("reason") or ""
                module.fail_json(msg=f"request {current['id']} {current['state']}: {why}",
                                 changed=changed, request=current)
    except ApiError as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": changed, "request": current}
    if changed:
        result["diff"] = {"before": {}, "after": spec}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
