"""Config → module args, shared by the blueprints that run a GPU cluster."""
from __future__ import annotations

from hybridai import catalog
from hybridai.config.components import GpuOperatorSettings, OnpremCluster, Team
from hybridai.config.spec import StackSpec, derive_mig_strategy
from modules.gpu_operator import GpuNodeArgs, GpuOperatorArgs
from modules.tenancy import TenancyArgs, TenantArgs


def gpu_operator_args(cluster: OnpremCluster, settings: GpuOperatorSettings) -> GpuOperatorArgs:
    preinstalled = cluster.driver == "preinstalled"
    return GpuOperatorArgs(
        namespace=settings.namespace,
        driver=not preinstalled,
        toolkit=True,
        toolkit_env=catalog.toolkit_env(cluster.distribution),
        cdi=settings.cdi,
        nfd=settings.nfd,
        dcgm_exporter=settings.dcgm_exporter,
        mig_strategy=derive_mig_strategy(cluster, settings),
        mig_configs={pool.mig_config_name: pool.mig for pool in cluster.gpu_pools if pool.mig},
        time_slicing_replicas=settings.time_slicing.replicas if settings.time_slicing else None,
        nodes=tuple(
            GpuNodeArgs(name=node, pool=pool.name, gpu_model=pool.gpu_model, mig_config=pool.mig_config_name, gpus=pool.gpus_per_node)
            for pool in cluster.gpu_pools
            for node in pool.nodes
        ),
    )


def gpu_quota(team: Team, cluster: OnpremCluster, mig_strategy: str) -> dict[str, int]:
    """Every GPU resource the cluster advertises gets a quota line — zero when the team has none —
    because a ResourceQuota leaves unlisted resources unlimited."""
    quota = {"nvidia.com/gpu": team.quota.gpus}
    if mig_strategy == "mixed":
        for profile in sorted(p for p in cluster.gpu_capacity() if p != "gpu"):
            quota[f"nvidia.com/mig-{profile}"] = team.quota.mig.get(profile, 0)
    return quota


def tenant(team: Team, gpu_quota: dict[str, int]) -> TenantArgs:
    return TenantArgs(
        name=team.name,
        namespace=team.namespace,
        group=team.group,
        tier=team.tier,
        data_classification=team.data_classification,
        gpu_quota=gpu_quota,
        cpu=team.quota.cpu,
        memory=team.quota.memory,
        storage=team.quota.storage,
        pods=team.quota.pods,
    )


def tenancy_args(spec: StackSpec, tenants: list[TenantArgs]) -> TenancyArgs:
    return TenancyArgs(
        tenants=tuple(tenants),
        monitoring_namespace=spec.monitoring.namespace,
        labels={"hybrid-ai.io/environment": spec.environment, "hybrid-ai.io/cost-center": spec.cost_center},
    )


def onprem_tenancy_args(spec: StackSpec, teams: list[Team], cluster: OnpremCluster, settings: GpuOperatorSettings) -> TenancyArgs:
    strategy = derive_mig_strategy(cluster, settings)
    return tenancy_args(spec, [tenant(team, gpu_quota(team, cluster, strategy)) for team in teams])
