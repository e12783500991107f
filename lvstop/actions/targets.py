"""Which (service, real server) pairs an action touches, resolved against the live table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lvstop.actions.base import BadTarget
from lvstop.model.ipvs import RealServer, RealServerKey, Service, ServiceKey
from lvstop.model.notation import real_server_label, service_label, service_spec


@dataclass(frozen=True, slots=True)
class Target:
    service: ServiceKey
    rs: RealServerKey

    @property
    def label(self) -> str:
        """ "TCP 198.18.23.73:8765 -> 198.18.23.4:8765" (single spaces, for audit keys)."""
        return f"{' '.join(service_label(self.service).split())} -> {real_server_label(self.rs)}"


def resolve(
    services: Sequence[Service],
    service: ServiceKey | None,
    rs: RealServerKey,
    *,
    all_services: bool = False,
) -> tuple[Target, ...]:
    """The targets in table order; BadTarget names what does not exist."""
    if all_services:
        found = tuple(Target(s.key, rs) for s in services if s.real_server(rs) is not None)
        if not found:
            raise BadTarget(f"no virtual service has real server {real_server_label(rs)}")
        return found
    if service is None:
        raise BadTarget("give a service (-t/-u/--sctp-service/-f) or --all-services")
    svc = next((s for s in services if s.key == service), None)
    if svc is None:
        raise BadTarget(f"no virtual service {service_spec(service)} in the IPVS table")
    if svc.real_server(rs) is None:
        have = ", ".join(real_server_label(r.key) for r in svc.real_servers) or "none"
        raise BadTarget(
            f"{service_spec(service)} has no real server {real_server_label(rs)} (it has: {have})"
        )
    return (Target(service, rs),)


def find(services: Sequence[Service], target: Target) -> tuple[Service, RealServer] | None:
    """The service and destination of a target as the table has them now, or None."""
    for s in services:
        if s.key == target.service:
            rs = s.real_server(target.rs)
            return (s, rs) if rs is not None else None
    return None
