"""Neutron's agents (``/v2.0/agents``, the ``agent`` extension of ML2), derived from the
region: an Open vSwitch agent on every compute host, alive while its compute service is up,
and on two network nodes per region the DHCP, L3, Metadata and Open vSwitch agents. Fields as
neutron/db/agents_db.py makes them; listing and showing are admin-only (``get_agent``), so
others list none.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from govcloud.sim.http import Request, Response
from govcloud.sim.model import now
from govcloud.sim.neutron_base import NeutronBase, as_bool, nerr
from govcloud.sim.state import Cloud

NETWORK_NODES = 2
# (agent_type, binary, topic, zone-scoped): what a network node of an ML2/OVS cloud runs
NODE_AGENTS = (("DHCP agent", "neutron-dhcp-agent", "dhcp_agent", True),
               ("L3 agent", "neutron-l3-agent", "l3_agent", True),
               ("Metadata agent", "neutron-metadata-agent", "N/A", False),
               ("Open vSwitch agent", "neutron-openvswitch-agent", "N/A", False))


@dataclass
class Agent:
    id: str
    agent_type: str
    binary: str
    topic: str
    host: str
    availability_zone: str | None
    configurations: dict[str, Any]
    admin_state_up: bool = True
    description: str | None = None
    created_at: Any = field(default_factory=now)


class AgentsMixin(NeutronBase):
    def __init__(self, cloud: Cloud) -> None:
        super().__init__(cloud)
        self.agent_states: dict[str, dict[str, Agent]] = {}

    def _agents(self, req: Request) -> dict[str, Agent]:
        region = self._region(req)
        made = self.agent_states.get(region.name)
        if made is not None:
            return made
        agents = self.agent_states[region.name] = {}
        zone = region.zones[0]
        ns = uuid.uuid5(uuid.NAMESPACE_URL, f"govcloud-sim/{region.name}/agents")
        def add(kind: str, binary: str, topic: str, host: str, zoned: bool) -> None:
            conf: dict[str, Any] = {"bridge_mappings": {"physnet1": "br-ex"},
                                    "integration_bridge": "br-int", "tunnel_types": ["vxlan"],
                                    "devices": 0} if binary.endswith("openvswitch-agent") \
                else {"agent_mode": "legacy", "interface_driver": "openvswitch",
                      "routers": 0} if topic == "l3_agent" \
                else {"dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq", "networks": 0} \
                if topic == "dhcp_agent" else {"metadata_proxy_socket":
                                               "/var/lib/neutron/metadata_proxy"}
            agent = Agent(id=str(uuid.uuid5(ns, f"{host}/{binary}")), agent_type=kind,
                          binary=binary, topic=topic, host=host,
                          availability_zone=zone if zoned else None, configurations=conf)
            agents[agent.id] = agent
        for n in range(1, NETWORK_NODES + 1):
            host = f"{region.name.lower()}-net-{n:02d}"
            for kind, binary, topic, zoned in NODE_AGENTS:
                add(kind, binary, topic, host, zoned)
        for hv in region.hypervisors.values():
            add("Open vSwitch agent", "neutron-openvswitch-agent", "N/A", hv.hostname, False)
        return agents

    def _agent_json(self, req: Request, a: Agent) -> dict[str, Any]:
        region = self._region(req)
        hv = region.hv_by_host.get(a.host)
        alive = hv is None or hv.service.is_up
        beat = now() if alive else (hv.service.updated_at if hv else now())

        def stamp(t: Any) -> str:
            return str(t.strftime("%Y-%m-%d %H:%M:%S"))

        return {"id": a.id, "agent_type": a.agent_type, "binary": a.binary, "topic": a.topic,
                "host": a.host, "admin_state_up": a.admin_state_up,
                "created_at": stamp(a.created_at), "started_at": stamp(a.created_at),
                "heartbeat_timestamp": stamp(beat), "description": a.description,
                "alive": alive, "availability_zone": a.availability_zone,
                "configurations": dict(a.configurations), "resources_synced": None}

    def list_agents(self, req: Request) -> Response:
        # get_agent is admin-only: Neutron filters what policy hides, so others see none
        rows = [self._agent_json(req, a) for a in self._agents(req).values()] \
            if req.auth.is_admin else []
        return self.collection(req, "agents", rows, lambda m: nerr(
            404, "AgentNotFound", f"Agent {m} could not be found"))

    def _get_agent(self, req: Request, agent_id: str) -> Agent:
        a = self._agents(req).get(agent_id)
        if a is None or not req.auth.is_admin:
            raise nerr(404, "AgentNotFound", f"Agent {agent_id} could not be found")
        return a

    def get_agent(self, req: Request, agent_id: str) -> Response:
        return self.one(req, "agent", self._agent_json(req, self._get_agent(req, agent_id)))

    def update_agent(self, req: Request, agent_id: str) -> Response:
        a = self._get_agent(req, agent_id)
        body = self._body(req, "agent")
        self._only(body, {"admin_state_up", "description"})
        if "admin_state_up" in body:
            a.admin_state_up = as_bool(body["admin_state_up"], "admin_state_up")
        if "description" in body:
            a.description = None if body["description"] is None else str(body["description"])
        return self.one(req, "agent", self._agent_json(req, a))

    def delete_agent(self, req: Request, agent_id: str) -> Response:
        a = self._get_agent(req, agent_id)
        del self._agents(req)[a.id]
        return Response(status=204)
