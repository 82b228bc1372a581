"""Stack config of the AWS cloud burst training pool (EKS + GPU node groups that scale from zero)."""
from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hybridai import catalog
from hybridai.config.base import PLACEHOLDER, Cidr, DnsLabel, Model, Problem
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

    def zones(self, environment: str) -> int:
        """`availabilityZones`, else the derived default: production survives the loss of a zone (3), others take 2."""
        return self.availability_zones or (3 if environment == "prod" else 2)

    def nat(self, environment: str) -> Literal["per-az", "single"]:
        """`natGateways`, else the derived default: a gateway per zone in production (egress survives
        a zone outage), a single one elsewhere."""
        return self.nat_gateways or ("per-az" if environment == "prod" else "single")

    @field_validator("vpc_cidr")
    @classmethod
    def _room_for_subnets(cls, value: str) -> str:
        shortest, _ = catalog.limits().aws.vpc_prefix
        if ipaddress.ip_network(value).prefixlen < shortest:
            raise PydanticCustomError("vpc_cidr_size", "AWS accepts a VPC block of /{shortest} or smaller; use a /{shortest} such as 10.64.0.0/{shortest}", {"shortest": shortest})
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


_DURATION = re.compile(r"^([0-9]+(s|m|h))+$")


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise PydanticCustomError("duration", "not a duration such as 30s, 10m, 1h or 720h (a number and s, m or h, repeated)")
    return value


Duration = Annotated[str, AfterValidator(_duration)]
"""A duration as Kubernetes controllers parse them (Go's time.ParseDuration, without fractions)."""


class GpuNodePool(Model):
    """A class of GPU nodes Karpenter launches when training waits for them, and removes when empty."""

    name: DnsLabel = Field(examples=["a100"], max_length=20, description="NodePool name (Kueue's flavor of the same name selects it).")
    instance_types: list[str] = Field(
        min_length=1, examples=[["p4de.24xlarge"]], description="EC2 GPU instance types, all with the same GPU model (see hybridai/data/aws.yaml)."
    )
    gpu_limit: int | None = Field(
        default=None,
        ge=1,
        le=1600,
        examples=[32],
        description="Most GPUs the pool's nodes may hold at once (the NodePool's `nvidia.com/gpu` limit, the bound on spend). "
        "Default: the GPUs the training catalog sends to the cloud at once that this pool's GPUs can run (required when no "
        "training job goes to the cloud; never below that).",
        json_schema_extra={"suggest": True},
    )
    capacity_types: list[Literal["spot", "on-demand"]] = Field(
        default_factory=lambda: ["spot", "on-demand"],
        min_length=1,
        description="Capacity Karpenter may buy. Both (default): spot first — training checkpoints and resumes — and "
        "on-demand when spot is short; `[spot]` waits for spot instead.",
    )
    disk_gb: int = Field(default=200, ge=50, le=4096, description="Encrypted root volume per node (container images of training jobs are large).")
    consolidate_after: Duration = Field(
        default="10m",
        description="How long a node stays empty before Karpenter removes it. Only empty nodes are removed: running training is never "
        "consolidated away.",
    )
    expire_after: Duration = Field(default="720h", description="Age at which a node is replaced (patched AMIs reach long-lived nodes); never while a do-not-disrupt pod runs.")

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
            raise PydanticCustomError("instance_types_mixed", "instance types mix GPU models ({models}); use one pool per GPU model", {"models": ", ".join(models)})
        return value

    @field_validator("capacity_types")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise PydanticCustomError("duplicate", "a capacity type is listed twice")
        return value

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
        min_length=1, examples=[["arn:aws:iam::111122223333:role/platform-admin"]], json_schema_extra=PLACEHOLDER, description="IAM roles given cluster-admin through EKS access entries."
    )
    system_instance_type: str = Field(default="m7i.large", description="Instance type of the small always-on system node group (Karpenter runs there).")
    ami_alias: str = Field(
        default_factory=lambda: catalog.aws().eks.ami_alias,
        pattern=r"^al2023@(v\d{8}|latest)$",
        description="AMI of GPU nodes: the EKS-optimized AL2023 family at one release (`al2023@vYYYYMMDD`); default: the one pinned in "
        "hybridai/data/aws.yaml. `al2023@latest` is refused in prod: nodes would change AMI with no review.",
    )
    log_retention_days: int | None = Field(
        default=None,
        examples=[2557],
        description="Days CloudWatch keeps the control-plane logs (audit, api, authenticator) — the EKS audit trail; one of the periods CloudWatch "
        "accepts (hybridai/data/aws.yaml). Default, and the least allowed: the smallest that covers the stack's compliance profiles' audit "
        "retention (HIPAA 2192, SOX 2557, otherwise 365).",
    )

    def kubernetes_version(self) -> str:
        """`version`, else the EKS version pinned in hybridai/data/aws.yaml."""
        return self.version or catalog.aws().eks.version

    @field_validator("log_retention_days")
    @classmethod
    def _cloudwatch_period(cls, value: int | None) -> int | None:
        allowed = catalog.aws().eks.log_retention_days
        if value is not None and value not in allowed:
            raise PydanticCustomError("retention_period", "CloudWatch keeps logs for one of {allowed} days", {"allowed": ", ".join(map(str, allowed))})
        return value

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
    notify: list[str] = Field(min_length=1, examples=[["ml-platform@example.com"]], json_schema_extra=PLACEHOLDER, description="E-mail addresses that receive the alerts.")

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
        examples=["111122223333"], json_schema_extra=PLACEHOLDER,
        description="AWS account of the pool. The AWS provider refuses any other account, so a stack can't deploy with the wrong credentials.",
    )
    region: str = Field(examples=["eu-central-1"], description="AWS region; must belong to the stack's jurisdiction.")
    network: Network = Field(default_factory=Network, description="VPC of the pool.")
    cluster: EksCluster = Field(description="EKS control plane.")
    gpu_node_pools: list[GpuNodePool] = Field(min_length=1, description="GPU node classes Karpenter scales from zero for training.")
    checkpoint_retention_days: int = Field(
        default=30, ge=1, le=3650, description="Days after which objects under `checkpoints/` (and their old versions) expire."
    )
    budget: Budget = Field(description="Monthly budget and alerts.")
    teams: list[CloudTeam] = Field(min_length=1, description="Teams that train on the pool.")

    @field_validator("gpu_node_pools")
    @classmethod
    def _unique_pools(cls, pools: list[GpuNodePool]) -> list[GpuNodePool]:
        dupes = sorted(n for n, c in Counter(p.name for p in pools).items() if c > 1)
        if dupes:
            raise PydanticCustomError("duplicate", "node pool name used twice: {dupes}", {"dupes": ", ".join(dupes)})
        return pools



def bucket_name(prefix: str, team: str, account_id: str) -> str:
    """Training bucket of a team: globally unique through the account id, stable across deploys."""
    return f"{prefix}-{team}-train-{account_id}"


def trainer_role_name(prefix: str, team: str) -> str:
    """IAM role a team's training pods assume (EKS Pod Identity)."""
    return f"{prefix}-{team}-trainer"


def check_cloud(cloud: CloudPool, prefix: str, jurisdiction: str, reserved: set[str], environment: str) -> list[Problem]:
    """The pool's teams, region, node AMI and derived names; its size against the training it
    carries is checked where it is decided (hybridai/capacity/cloud.py)."""
    problems = check_teams(cloud.teams, reserved=reserved, key=("cloud", "teams"))
    if environment == "prod" and cloud.cluster.ami_alias.endswith("@latest"):
        problems.append(
            Problem(
                ("cloud", "cluster", "amiAlias"),
                "ami_unpinned",
                "a prod stack pins its node AMI: with `@latest` every AMI release reaches GPU nodes unreviewed; name a release such as "
                f"{catalog.aws().eks.ami_alias}",
                cloud.cluster.ami_alias,
            )
        )
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
        limits = catalog.limits().aws
        if len(bucket) > limits.s3_bucket_name or len(role) > limits.iam_role_name:
            problems.append(
                Problem(
                    ("cloud", "teams", i, "name"),
                    "name_too_long",
                    f"bucket {bucket} or role {role} would exceed AWS's {limits.s3_bucket_name}/{limits.iam_role_name} characters; shorten the team name or the prefix",
                    team.name,
                )
            )
    return problems
