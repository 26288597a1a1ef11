"""Ansible inventory plugin: the govcloud control plane's legacy hosts and cloud servers.

    ansible-inventory -i inventory/govcloud.yml --graph

The server and token are found as the ``govcloud`` CLI finds them (``server``/``token`` options,
``GOVCLOUD_SERVER``/``GOVCLOUD_TOKEN``, or the current context); the plugin reads
``GET /api/v1/inventory``, which only lists the departments the token may see.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

DOCUMENTATION = r"""
name: govcloud
plugin_type: inventory
short_description: legacy hosts and cloud servers from the govcloud control plane
description:
  - Groups hosts by department (dept_*), site (site_*), system (system_*), DR role (dr_*) and
    wave (wave_*).
options:
  plugin:
    description: marks the file as this plugin's
    required: true
    choices: [govcloud]
  server:
    description: the control plane's URL (default GOVCLOUD_SERVER or the current context)
    required: false
  context:
    description: a govcloud context name (default the current one)
    required: false
"""


class InventoryModule(BaseInventoryPlugin):  # type: ignore[misc]
    NAME = "govcloud"
    # the values come from imported inventories and the clouds: data, never templates
    trusted_by_default = False

    def verify_file(self, path: str) -> bool:
        return bool(super().verify_file(path)) and path.endswith(("govcloud.yml",
                                                                  "govcloud.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            from govcloud.client import ApiClient
            from govcloud.errors import GovCloudError
        except ImportError as exc:  # ansible from another Python than govcloud's
            raise AnsibleParserError(f"govcloud is not importable here: {exc}") from exc
        try:
            with ApiClient.from_options(server=self.get_option("server"),
                                        context=self.get_option("context")) as api:
                data = api.get("/inventory")
        except GovCloudError as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            raise AnsibleParserError(f"govcloud inventory: {exc.message}{hint}") from None
        for group, body in data.items():
            if group in ("_meta", "all"):
                continue
            self.inventory.add_group(group)
            for host in body.get("hosts", []):
                self.inventory.add_host(host, group=group)
        for host, variables in data.get("_meta", {}).get("hostvars", {}).items():
            self.inventory.add_host(host)
            for key, value in variables.items():
                self.inventory.set_variable(host, key, value)
