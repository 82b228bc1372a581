"""Stack config of factory edge sites: GPU devices on the line that keep inferring offline."""
from __future__ import annotations

import re
from collections import Counter
from functools import cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hybridai import catalog
from hybridai.config.base import PLACEHOLDER, NO_VALUE, Cidr, DnsLabel, Model, GpuModelName, IdpGroup, Problem, Quantity, gpus_per_node_fit
from hybridai.config.base import GitUrl, RemotePath
from hybridai.config.components import OnpremCluster, Team
from hybridai.recorded import edge_placement

DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")

_DIGEST = re.compile(catalog.DIGEST_PATTERN)


def _digest(value: str) -> str:
    if not _DIGEST.match(value):
        raise PydanticCustomError("image_digest", "not an image digest: `sha256:` and 64 lower-case hex digits, as `crane digest IMAGE` prints it")
    return value


ImageDigest = Annotated[str, AfterValidator(_digest)]


@cache
def _timezones() -> frozenset[str]:
    # Reading the zone database takes ~15 ms: once per process, not once per site.
    return frozenset(available_timezones())


class MaintenanceWindow(Model):
    """When a site may take new models: the model sync runs only inside this window."""

    days: list[Literal["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]] = Field(min_length=1, examples=[["Sat"]], description="Days the window opens.")
    start: str = Field(examples=["02:00"], pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="Local start time (HH:MM) in the site's time zone.")
    hours: int = Field(ge=1, le=24, examples=[4], description="Length of the window; a sync still running at its end is stopped.")

    def cron(self) -> str:
        hour, minute = self.start.split(":")
        return f"{int(minute)} {int(hour)} * * {','.join(str(DAYS.index(d)) for d in self.days)}"


MODEL_SOURCE_KEYS = ("rclone.conf",)
"""Keys of the Secret `sites[].modelSourceSecret`: the rclone configuration the model sync mounts."""


class EdgeModel(Model):
    """A model served at the site from its local cache."""

    name: DnsLabel = Field(examples=["weld-inspection"], description="Model name (the Triton model repository folder).")
    replicas: int = Field(default=1, ge=1, le=8, description="Serving replicas at the site.")
    gpus: int = Field(default=1, ge=0, le=8, description="GPUs per replica (0: CPU only).")
    cpu: Quantity = Field(default="2", description="CPU per replica (request = limit).")
    memory: Quantity = Field(default="8Gi", description="Memory per replica (request = limit).")


class GitOps(Model):
    """Pull delivery for sites CI can't reach: an Argo CD at the site syncs its folder of the repo."""

    repo_url: GitUrl = Field(
        examples=["https://git.plant.example/platform/edge-sites.git"], json_schema_extra=PLACEHOLDER,
        description="Git repository the site's Argo CD pulls: https://, ssh:// or `git@host:org/repo.git`, without credentials "
        "(Argo CD reads them from its repository Secret).",
    )
    revision: str = Field(default="main", description="Branch or tag it follows.")
    path: str | None = Field(default=None, description="Folder of the site in the repository; default: `sites/<site>`.")
    bootstrap: bool = Field(
        default=False,
        description="Install Argo CD and the site's root Application now, through a one-time push (set it while the site is reachable, "
        "then turn it off: what it installed is kept).",
    )


class EdgeSite(Model):
    """A factory edge site: GPU devices on the line, reached through their own kubeconfig context."""

    name: DnsLabel = Field(
        examples=["line-1"],
        max_length=30,
        description="Site name; its resources have placement `edge:<name>`. It is identity: every resource of the site is named from it (set `renamedFrom` to rename).",
    )
    renamed_from: DnsLabel | None = Field(
        default=None,
        description="The site's previous `name`, while a rename is deployed: its resources keep their identity (Pulumi aliases). "
        "Remove it once every stack has run `pulumi up`.",
    )
    context: str = Field(min_length=1, examples=["site-1-admin"], json_schema_extra=PLACEHOLDER, description="kubeconfig context of the site's cluster.")
    distribution: Literal["k3s", "rke2", "jetson"] = Field(
        examples=["k3s"],
        description="k3s/RKE2: the GPU Operator, its toolkit pointed at their containerd; jetson: the NVIDIA device plugin only (JetPack ships the driver).",
    )
    driver: Literal["operator", "preinstalled"] = Field(default="preinstalled", description="k3s/RKE2 sites: who installs the NVIDIA driver.")
    gpu_model: GpuModelName = Field(examples=["L4-24GB"], description="GPU model of the site's nodes (hybridai/data/gpus.yaml).")
    nodes: list[DnsLabel] = Field(min_length=1, examples=[["site-1-gpu-01"]], json_schema_extra=PLACEHOLDER, description="GPU node names; inference is pinned to them.")
    gpus_per_node: int = Field(default=1, ge=1, description="GPUs per node: at most what one server holds of the model (hybridai/data/gpus.yaml `max_per_node`).")
    timezone: str = Field(default="UTC", description="IANA time zone of the site (the maintenance window is local time).")
    maintenance_window: MaintenanceWindow = Field(description="When new models may arrive.")
    registry_mirror: str = Field(
        pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._/-]+)?$",
        examples=["mirror.line-1.example:5000"], json_schema_extra=PLACEHOLDER,
        description="Site-local registry that proxies upstream registries (each under its host name); every image of the site is "
        "pulled through it, so a restart during an outage finds its images on site: the site's own workloads name it, the platform "
        "charts' images reach it through the containerd mirror settings the plan writes to `mirror/<site>/`.",
    )
    image_digests: dict[str, ImageDigest] = Field(
        default_factory=dict,
        examples=[{"triton": "sha256:" + "1" * 64, "rclone": "sha256:" + "3" * 64}],
        json_schema_extra={"suggest": True},
        description="Digest (`sha256:…`) of each image the site pulls, by its name in hybridai/data/versions.yaml: `triton` and `rclone` "
        "(k3s/RKE2), `triton-igpu`, `rclone` and `device-plugin` (jetson). Each image is pulled by digest, `<registryMirror>/<image>:<tag>@<digest>`. "
        "Required in `prod` (an image by tag can change under the same tag); elsewhere an image without one is pulled by tag, which the "
        "pinned-image policy allows only from `policy.allowedRegistries`. Ask the site's mirror: `crane digest <registryMirror>/<image>:<tag>` "
        "or `skopeo inspect docker://<registryMirror>/<image>:<tag>` (its `Digest`). The example values are placeholders: replace them.",
    )
    model_source: RemotePath = Field(
        examples=["plant:models/inspection"], json_schema_extra=PLACEHOLDER,
        description="rclone remote path (`remote:path`) of the model repository the sync copies from; the remote's settings and "
        "credentials are in `modelSourceSecret`, never in the path.",
    )
    model_source_secret: DnsLabel = Field(
        default="model-sync-credentials",
        description="Secret of the model sync, key `rclone.conf`: an rclone config file defining the remote of `modelSource`, created from "
        "its source in `secrets.sources` (a store on a GitOps site). Mounted read-only (mode 0440) at /etc/rclone/rclone.conf, never passed as environment variables.",
    )
    cache_size: Quantity = Field(default="50Gi", description="Local model cache: the last good models stay here through outages.")
    storage_class: str | None = Field(default=None, description="StorageClass of the cache; default: the cluster's (k3s: local-path).")
    client_cidrs: list[Cidr] = Field(
        default_factory=lambda: ["10.0.0.0/8"],
        min_length=1,
        description="Networks of the line equipment allowed to call inference; together at most the public addresses of a /8 "
        "unless `policy.wideNetworksReason` says why.",
    )
    team: DnsLabel = Field(default="manufacturing-ops", description="Team that owns the site's inference namespace (quota, RBAC, cost).")
    group: IdpGroup = Field(default="oidc:manufacturing-ops", description="Identity-provider group of that team.")
    models: list[EdgeModel] = Field(min_length=1, description="Models served at the site.")
    delivery: Literal["push", "gitops"] = Field(
        default="push", description="`push`: Pulumi deploys to the site; `gitops`: Pulumi renders the site's manifests and its Argo CD pulls them."
    )
    gitops: GitOps | None = Field(default=None, description="GitOps delivery settings (required with `delivery: gitops`).")

    @field_validator("gpus_per_node")
    @classmethod
    def _fits_a_server(cls, value: int, info: ValidationInfo) -> int:
        return gpus_per_node_fit(value, info.data.get("gpu_model"))

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value not in _timezones():
            raise PydanticCustomError("timezone_unknown", "not an IANA time zone such as Europe/Berlin")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EdgeSite:
        if self.delivery == "gitops" and self.gitops is None:
            raise PydanticCustomError("gitops_required", "`delivery: gitops` needs a `gitops` section (repoUrl at least)")
        if self.distribution == "jetson" and not self.gpu_model.startswith("Orin"):
            raise PydanticCustomError("jetson_gpu", "jetson sites run Jetson modules (gpuModel Orin-…), not {gpu}", {"gpu": self.gpu_model})
        if self.distribution != "jetson" and self.gpu_model.startswith("Orin"):
            raise PydanticCustomError("jetson_gpu", "Jetson modules need `distribution: jetson`")
        asked = sum(m.replicas * m.gpus for m in self.models)
        if asked > len(self.nodes) * self.gpus_per_node:
            raise PydanticCustomError(
                "site_over_capacity",
                "models need {asked} GPUs but the site has {have}; lower replicas or add nodes",
                {"asked": asked, "have": len(self.nodes) * self.gpus_per_node},
            )
        return self

    def images(self) -> tuple[str, ...]:
        """The images the site pulls itself (names in hybridai/data/versions.yaml); charts pin their own."""
        return ("triton-igpu", "rclone", "device-plugin") if self.distribution == "jetson" else ("triton", "rclone")

    def image(self, name: str) -> str:
        """One of the site's images as its pods pull it: through the mirror, by digest when the stack gives one."""
        return catalog.image(name, self.registry_mirror, self.image_digests.get(name))

    @property
    def gitops_path(self) -> str:
        return (self.gitops.path if self.gitops and self.gitops.path else f"sites/{self.name}")

    def cluster(self) -> OnpremCluster:
        """The site as a cluster of one GPU pool named after it (Jetson sites as plain kubeadm)."""
        return OnpremCluster.model_validate(
            {"name": self.name, "context": self.context, "distribution": "kubeadm" if self.distribution == "jetson" else self.distribution, "driver": self.driver,
             "gpuPools": [{"name": self.name, "gpuModel": self.gpu_model, "nodes": self.nodes, "gpusPerNode": self.gpus_per_node}]}
        )

    @property
    def placement(self) -> str:
        """The site's placement, `edge:<site>`: its cluster in the plan, the policy rules and the cost."""
        return edge_placement(self.name)

    def owner(self) -> Team:
        """The site's one tenant: its team, in namespace `inference`, holding all of its GPUs."""
        return Team.model_validate(
            {"name": self.team, "namespace": "inference", "group": self.group, "tier": "production-inference", "dataClassification": "internal",
             "quota": {"gpus": len(self.nodes) * self.gpus_per_node, "cpu": "64", "memory": "256Gi", "storage": "1Ti"}}
        )


def check_sites(sites: list[EdgeSite], environment: str) -> list[Problem]:
    """Site names are unique, and each site's image digests are complete for the stack's
    `environment` (prod: every image by digest)."""
    names = Counter(s.name for s in sites)
    problems = [Problem(("sites", i, "name"), "duplicate", "site name used twice; names must be unique", s.name) for i, s in enumerate(sites) if names[s.name] > 1]
    for i, site in enumerate(sites):
        problems += check_image_digests(site, ("sites", i), required=environment == "prod")
    return problems


def check_image_digests(site: EdgeSite, loc: tuple[str | int, ...], required: bool) -> list[Problem]:
    """The site's `imageDigests` name only images it pulls; with `required` (prod), every one of them."""
    problems = []
    pulled = site.images()
    for name, digest in site.image_digests.items():
        if name not in pulled:
            problems.append(Problem((*loc, "imageDigests", name), "image_unknown", f"the site pulls no image {name!r}; its images: {', '.join(pulled)}", digest))
    if required:
        for name in pulled:
            if name not in site.image_digests:
                ref = catalog.image(name, site.registry_mirror)
                problems.append(
                    Problem(
                        (*loc, "imageDigests", name),
                        "image_digest_required",
                        f"prod sites pull every image by digest; add the digest of {ref} as the site's mirror serves it: "
                        f"`crane digest {ref}` or `skopeo inspect docker://{ref}` (its Digest)",
                        NO_VALUE,
                    )
                )
    return problems
