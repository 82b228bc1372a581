"""Stack config of the AWS cloud burst training pool (EKS + GPU node groups that scale from zero)."""
from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hybridai import catalog
from hybridai.config.base import Cidr, DnsLabel, Model, Problem
from hybridai.config.components import Team, check_teams

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


class Network(Model):
    """Where the pool's nodes live: a new VPC (private subnets, NAT egress) or an existing one."""

    vpc_cidr: Cidr = Field(default="10.64.0.0/16", description="CIDR of the new VPC; split into one public and one private subnet per availability zone.")
    availability_zones: int | None = Field(
        default=None, ge=2, le=3, description="How many availability zones to spread subnets over; default: 3 in prod, else 2."
    )
    nat_gateways: Literal["per-az", "single"] | None = Field(
        default=None,
        description="NAT gateways for egress from private subnets: `per-az` survives an AZ outage, `single` costs less; default: `per-az` in prod, else `single`.",
    )
    existing_vpc_id: str | None = Field(default=None, pattern=r"^vpc-[0-9a-f]{8,17}$", description="Use this VPC instead of creating one.")
    existing_private_subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(
        default_factory=list, description="Private subnets (two or more AZs) of `existingVpcId` for the cluster and nodes."
    )

    @field_validator("vpc_cidr")
    @classmethod
    def _room_for_subnets(cls, value: str) -> str:
        if ipaddress.ip_network(value).prefixlen > 20:
            raise PydanticCustomError("cidr_too_small", "a /20 or larger is needed for six subnets with room for pods")
        return value

    @model_validator(mode="after")
    def _existing_vpc_has_subnets(self) -> Network:
        if self.existing_vpc_id and len(self.existing_private_subnet_ids) < 2:
            raise PydanticCustomError("subnets_required", "`existingVpcId` needs `existingPrivateSubnetIds` in at least two availability zones")
        if self.existing_private_subnet_ids and not self.existing_vpc_id:
            raise PydanticCustomError("vpc_required", "`existingPrivateSubnetIds` needs `existingVpcId`")
        return self


class GpuNodeGroup(Model):
    """GPU training nodes: spot by default with an on-demand fallback, both scaling from zero."""

    name: DnsLabel = Field(examples=["a100"], max_length=20, description="Node group name (labels nodes `hybrid-ai.io/node-group`).")
    instance_types: list[str] = Field(
        min_length=1, examples=[["p4de.24xlarge"]], description="EC2 GPU instance types, all with the same GPU model (see hybridai/data/aws.yaml)."
    )
    min_size: int = Field(default=0, ge=0, description="Minimum nodes. 0 lets idle GPUs cost nothing between training runs.")
    max_size: int | None = Field(
        default=None,
        ge=1,
        le=200,
        examples=[4],
        description="Maximum nodes of the spot group. Default: sized by the capacity planner — enough nodes for the GPUs "
        "the training catalog sends to the cloud at once (required when no training job goes to the cloud).",
        json_schema_extra={"suggest": True},
    )
    spot: bool = Field(default=True, description="Run the main group on spot capacity (training checkpoints and resumes).")
    on_demand_fallback_max: int | None = Field(
        default=None, ge=0, description="Maximum nodes of the on-demand fallback group used when spot is short; 0 disables it; default: `maxSize`."
    )
    disk_gb: int = Field(default=200, ge=50, le=4096, description="Encrypted root volume per node (container images of training jobs are large).")

    @field_validator("instance_types")
    @classmethod
    def _gpu_instances(cls, value: list[str]) -> list[str]:
        known = catalog.aws().gpu_instances
        unknown = [t for t in value if t not in known]
        if unknown:
            raise PydanticCustomError(
                "instance_type_not_gpu",
                "not a GPU instance type hybrid-ai knows: {unknown}; use one of {known}",
                {"unknown": ", ".join(unknown), "known": ", ".join(known)},
            )
        models = sorted({known[t].gpu for t in value})
        if len(models) > 1:
            raise PydanticCustomError("instance_types_mixed", "instance types mix GPU models ({models}); use one group per GPU model", {"models": ", ".join(models)})
        return value

    @model_validator(mode="after")
    def _sizes(self) -> GpuNodeGroup:
        if self.max_size is not None and self.min_size > self.max_size:
            raise PydanticCustomError("min_over_max", "minSize ({min}) is larger than maxSize ({max})", {"min": self.min_size, "max": self.max_size})
        return self


    @property
    def gpu_model(self) -> str:
        return catalog.aws().gpu_instances[self.instance_types[0]].gpu

    @property
    def gpus_per_node(self) -> int:
        return min(catalog.aws().gpu_instances[t].gpus for t in self.instance_types)



class EksCluster(Model):
    """The EKS control plane of the training pool."""

    name: DnsLabel = Field(default="training", max_length=20, description="Target name of the cluster (artifacts under `manifests/<name>/`).")
    version: str | None = Field(default=None, pattern=r"^1\.\d{2}$", description="Kubernetes version; default: the one pinned in hybridai/data/aws.yaml.")
    public_access_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="Networks allowed to reach a public API endpoint. Empty (default): the endpoint is private, "
        "reachable only from the VPC and networks peered or connected to it. Never 0.0.0.0/0; together at most the "
        "public addresses of a /8 unless `policy.wideNetworksReason` says why.",
    )
    admin_role_arns: list[str] = Field(
        min_length=1, examples=[["arn:aws:iam::111122223333:role/platform-admin"]], description="IAM roles given cluster-admin through EKS access entries."
    )
    system_instance_type: str = Field(default="m7i.large", description="Instance type of the small always-on system node group.")
    log_retention_days: Literal[30, 90, 180, 365, 731, 1827, 2557, 3653] = Field(
        default=365, description="Days CloudWatch keeps control-plane logs (audit, api, authenticator)."
    )

    @field_validator("admin_role_arns")
    @classmethod
    def _role_arns(cls, value: list[str]) -> list[str]:
        bad = [arn for arn in value if not _ROLE_ARN.match(arn)]
        if bad:
            raise PydanticCustomError("role_arn", "not IAM role ARNs: {bad}", {"bad": ", ".join(bad)})
        return value


class Budget(Model):
    """AWS Budgets alerts on the pool's monthly cost."""

    monthly_limit_usd: float = Field(gt=0, examples=[20000], description="Monthly budget in US dollars.")
    alert_thresholds_percent: list[int] = Field(
        default_factory=lambda: [50, 80, 100], min_length=1, description="Alert when actual or forecast spend passes these percentages of the limit."
    )
    notify: list[str] = Field(min_length=1, examples=[["ml-platform@example.com"]], description="E-mail addresses that receive the alerts.")

    @field_validator("alert_thresholds_percent")
    @classmethod
    def _thresholds(cls, value: list[int]) -> list[int]:
        if any(not 1 <= v <= 1000 for v in value) or len(set(value)) != len(value):
            raise PydanticCustomError("thresholds", "thresholds must be distinct percentages from 1 to 1000")
        return sorted(value)

    @field_validator("notify")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _EMAIL.match(v)]
        if bad:
            raise PydanticCustomError("email", "not e-mail addresses: {bad}", {"bad": ", ".join(bad)})
        return value


class CloudTeam(Team):
    """A team that trains on the cloud pool: a namespace on EKS and a bucket only it can use."""

    tier: Literal["production-inference", "training", "research"] = Field(default="training", description="Default scheduling tier on the pool.")


class CloudPool(Model):
    """The AWS cloud burst training pool."""

    account_id: str = Field(
        pattern=r"^\d{12}$",
        examples=["111122223333"],
        description="AWS account of the pool. The AWS provider refuses any other account, so a stack can't deploy with the wrong credentials.",
    )
    region: str = Field(examples=["eu-central-1"], description="AWS region; must belong to the stack's jurisdiction.")
    network: Network = Field(default_factory=Network, description="VPC of the pool.")
    cluster: EksCluster = Field(description="EKS control plane.")
    gpu_node_groups: list[GpuNodeGroup] = Field(min_length=1, description="GPU training node groups.")
    checkpoint_retention_days: int = Field(
        default=30, ge=1, le=3650, description="Days after which objects under `checkpoints/` (and their old versions) expire."
    )
    budget: Budget = Field(description="Monthly budget and alerts.")
    teams: list[CloudTeam] = Field(min_length=1, description="Teams that train on the pool.")

    @field_validator("gpu_node_groups")
    @classmethod
    def _unique_groups(cls, groups: list[GpuNodeGroup]) -> list[GpuNodeGroup]:
        dupes = sorted(n for n, c in Counter(g.name for g in groups).items() if c > 1)
        if dupes:
            raise PydanticCustomError("duplicate", "node group name used twice: {dupes}", {"dupes": ", ".join(dupes)})
        return groups



def bucket_name(prefix: str, team: str, account_id: str) -> str:
    """Training bucket of a team: globally unique through the account id, stable across deploys."""
    return f"{prefix}-{team}-train-{account_id}"


def trainer_role_name(prefix: str, team: str) -> str:
    """IAM role a team's training pods assume (EKS Pod Identity)."""
    return f"{prefix}-{team}-trainer"


def check_cloud(cloud: CloudPool, prefix: str, jurisdiction: str, reserved: set[str]) -> list[Problem]:
    """The pool's teams, region and derived names; its size against the training it carries is
    checked where it is decided (hybridai/capacity/cloud.py)."""
    problems = check_teams(cloud.teams, reserved=reserved, key=("cloud", "teams"))
    allowed = catalog.aws().jurisdictions[jurisdiction]
    if cloud.region not in allowed:
        problems.append(
            Problem(
                ("cloud", "region"),
                "region_outside_jurisdiction",
                f"region is outside jurisdiction `{jurisdiction}`, where data must stay; use one of {', '.join(allowed)}",
                cloud.region,
            )
        )
    for i, team in enumerate(cloud.teams):
        if team.quota.mig:
            problems.append(Problem(("cloud", "teams", i, "quota", "mig"), "mig_profile_unavailable", "the cloud pool runs whole GPUs; remove `mig`", team.quota.mig))
        bucket, role = bucket_name(prefix, team.name, cloud.account_id), trainer_role_name(prefix, team.name)
        if len(bucket) > 63 or len(role) > 64:
            problems.append(
                Problem(("cloud", "teams", i, "name"), "name_too_long", f"bucket {bucket} or role {role} would exceed AWS's 63/64 characters; shorten the team name or the prefix", team.name)
            )
    return problems
