"""Deployments on a Prefect server: registered by name, known to the server by id.

The port names deployments; Prefect keys them by id under a flow. This keeps the name<->id map
(looked up once, then cached), upserts the settings' deployments (writing nothing for an
unchanged one: a POST would, on 2.19, drop its auto-scheduled runs), reads them back for
`deployments`, and pauses them with `PATCH {"paused": …}` (both versions; never 2.19's
`is_schedule_active`, which wipes the schedules).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from supervisor.clock import Clock
from supervisor.controlplane.prefect import wire
from supervisor.controlplane.prefect.http import NotFound, PrefectHTTP, Refused
from supervisor.controlplane.prefect.queries import PAGE
from supervisor.errors import ControlPlaneError, DeploymentNotFound
from supervisor.models import DeploymentInfo
from supervisor.schedules import describe, next_slot
from supervisor.settings import DeploymentSettings

logger = logging.getLogger("supervisor.prefect")


def flow_directory(deployment: DeploymentSettings) -> Path:
    """Where a served flow's file is: its `cwd`, else its storage `path`, else here."""
    storage = deployment.storage.path if deployment.storage is not None else None
    where = deployment.cwd if deployment.cwd is not None and deployment.cwd.is_absolute() else None
    return (where or storage or Path.cwd()).resolve()


class PrefectDeployments:
    def __init__(self, http: PrefectHTTP, api_url: str, clock: Clock,
                 deployments: Sequence[DeploymentSettings] = ()) -> None:
        self._http = http
        self._api_url = api_url
        self._clock = clock
        self._lock = threading.Lock()
        self.settings: dict[str, DeploymentSettings] = {d.name: d for d in deployments}
        self._ids: dict[str, uuid.UUID] = {}
        self._names: dict[uuid.UUID, str] = {}
        self.major = 2
        """The server's major version (set once it is known): 3.x holds `concurrency` too."""

    def register(self, deployments: Sequence[DeploymentSettings]) -> None:
        """Upsert each as a flow + deployment; an unchanged one is not written at all."""
        for deployment in deployments:
            self.settings[deployment.name] = deployment
            flow = deployment.flow_name or deployment.name
            body = self._body(deployment)
            if self.major >= 3:  # issue 14: the server holds `concurrency` too
                body.update(wire.concurrency_body(deployment))
            found = self._find(flow, deployment.name)
            if found is not None and self._unchanged(found, body) and (
                    self.major < 3 or wire.same_concurrency(body, found)):
                self._remember(deployment.name, uuid.UUID(found["id"]))
                continue
            try:
                flow_id = self._http.call("POST", "flows/", {"name": flow})["id"]
                body = {**body, "flow_id": flow_id,
                        "paused": bool(found.get("paused")) if found else False}
                created = self._http.call("POST", "deployments/", body)
            except Refused as exc:
                raise ControlPlaneError(
                    f"Prefect refused deployment {deployment.name!r}: {exc.detail}") from None
            self._remember(deployment.name, uuid.UUID(created["id"]))

    @staticmethod
    def _body(deployment: DeploymentSettings) -> dict[str, Any]:
        body = {
            "name": deployment.name,
            "parameters": dict(deployment.parameters),
            "tags": list(deployment.tags),
            "description": deployment.description or None,
            "schedules": wire.schedules_body(deployment),
        }
        if deployment.flow is not None:  # what Prefect's engine loads (it reads `path` on 2.x)
            body["entrypoint"] = deployment.flow
            body["path"] = str(flow_directory(deployment))
        return body

    @staticmethod
    def _unchanged(found: dict[str, Any], body: dict[str, Any]) -> bool:
        return (
            (found.get("parameters") or {}) == body["parameters"]
            and sorted(found.get("tags") or []) == sorted(body["tags"])
            and (found.get("description") or None) == body["description"]
            and wire.same_schedules(body["schedules"], found.get("schedules"))
            and found.get("entrypoint") == body.get("entrypoint")
            and found.get("path") == body.get("path")
        )

    def _find(self, flow: str, name: str) -> dict[str, Any] | None:
        try:
            return self._http.call("GET", f"deployments/name/{flow}/{name}")
        except NotFound:
            return None

    def _remember(self, name: str, deployment_id: uuid.UUID) -> None:
        with self._lock:
            self._ids[name] = deployment_id
            self._names[deployment_id] = name

    def forget(self, name: str) -> None:
        """Deleted on the server: look it up again next time."""
        with self._lock:
            self._ids.pop(name, None)

    def id_of(self, name: str) -> uuid.UUID | None:
        with self._lock:
            known = self._ids.get(name)
        if known is not None:
            return known
        settings = self.settings.get(name)
        flow = (settings.flow_name if settings else None) or name
        found = self._find(flow, name)
        if found is None and settings is None:
            matches = self._http.call("POST", "deployments/filter",
                                      {"deployments": {"name": {"any_": [name]}}, "limit": 2})
            found = matches[0] if len(matches) == 1 else None
        if found is None:
            return None
        self._remember(name, uuid.UUID(found["id"]))
        return uuid.UUID(found["id"])

    def require(self, name: str) -> uuid.UUID:
        deployment_id = self.id_of(name)
        if deployment_id is None:
            raise DeploymentNotFound(
                f"no deployment {name!r} on the Prefect server {self._api_url}")
        return deployment_id

    def name_of(self, deployment_id: str | None) -> str:
        if not deployment_id:
            return ""
        key = uuid.UUID(deployment_id)
        with self._lock:
            name = self._names.get(key)
        if name is None:
            try:
                name = str(self._http.call("GET", f"deployments/{key}")["name"])
            except NotFound:
                name = str(key)
            with self._lock:
                self._names.setdefault(key, name)
        return name

    def known_ids(self) -> list[uuid.UUID]:
        return [i for i in (self.id_of(n) for n in sorted(self.settings)) if i]

    def read(self) -> list[DeploymentInfo]:
        ids = self.known_ids()
        if not ids:
            return []
        found = self._http.call("POST", "deployments/filter",
                                {"deployments": {"id": {"any_": [str(i) for i in ids]}}})
        upcoming = self._next_runs(ids)
        infos = []
        now = self._clock.now()
        for data in found:
            name = self.name_of(data["id"])
            settings = self.settings.get(name)
            paused = bool(data.get("paused"))
            next_time = None
            if not paused:
                next_time = upcoming.get(data["id"]) or (
                    next_slot(settings, now) if settings else None)
            infos.append(DeploymentInfo(
                name=name,
                schedule=describe(settings) if settings else None,
                next_run_time=next_time,
                paused=paused,
                tags=tuple(data.get("tags") or ()),
            ))
        return sorted(infos, key=lambda info: info.name)

    def _next_runs(self, ids: list[uuid.UUID]) -> dict[str, datetime]:
        runs = self._http.call("POST", "flow_runs/filter", {
            "flow_runs": {"deployment_id": {"any_": [str(i) for i in ids]},
                          "state": {"type": {"any_": ["SCHEDULED"]}},
                          "expected_start_time": {"after_": wire.iso(self._clock.now())}},
            "sort": "EXPECTED_START_TIME_ASC", "limit": PAGE})
        upcoming: dict[str, datetime] = {}
        for data in runs:
            when = wire.parse_time(data.get("expected_start_time"))
            if when is not None:
                upcoming.setdefault(data["deployment_id"], when)
        return upcoming

    def set_paused(self, name: str, paused: bool) -> None:
        deployment_id = self.require(name)
        try:
            self._http.call("PATCH", f"deployments/{deployment_id}", {"paused": paused})
        except NotFound:
            raise DeploymentNotFound(f"no deployment {name!r} on {self._api_url}") from None

    def paused(self, deployment_ids: set[str]) -> set[str]:
        """Prefect returns a paused deployment's runs anyway; we do not."""
        found = self._http.call("POST", "deployments/filter",
                                {"deployments": {"id": {"any_": sorted(deployment_ids)}}})
        return {d["id"] for d in found if d.get("paused")}
