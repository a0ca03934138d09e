"""The `prefect` control plane: a Prefect 2.x/3.x server over its REST API (httpx only)."""

from supervisor.controlplane.prefect.adapter import PrefectControlPlane

__all__ = ["PrefectControlPlane"]
