"""EksCluster: the EKS control plane of a cloud burst pool, its system nodes, and the cluster as a target."""
from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from hybridai import catalog
from hybridai.config.cloud import EksCluster as EksClusterSettings
from hybridai.recorded import NODE_ROLE_LABEL, ROLE_SYSTEM, TARGET_TYPE, component_type
from hybridai.modules.base import Args, Module, former_training_pool, options, placed
from hybridai.modules.iam import trust
from hybridai.modules.kms import key_policy, logs_encrypt, protected_key
from hybridai.modules.node_group import node_group
from hybridai.modules.target import AwsScope, Target, TargetArgs

NODE_POLICIES = {
    # The managed policies worker nodes need, and no more: join the cluster, pull images, run the VPC CNI.
    "worker": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "ecr-pull": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    "cni": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
}
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
ADDONS = ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent", "eks-node-monitoring-agent")
"""The add-ons every cluster gets. The node monitoring agent reads each node's kernel log and DCGM
for GPU faults (XIDs among them) and sets the node's `AcceleratedHardwareReady` condition, which
Karpenter's node repair acts on (modules/karpenter.py); it needs no IAM role."""


def control_plane_log_group(cluster_name: str) -> str:
    """The log group EKS writes the control-plane logs of cluster `cluster_name` to, its audit log among them."""
    return f"/aws/eks/{cluster_name}/cluster"


class EksClusterArgs(Args):
    scope: AwsScope
    """The stack's account and cluster: the cluster is `<prefix>-<cluster>`, its log key admits
    CloudWatch Logs of the account's region for this cluster's group only."""
    kubernetes_version: str
    """Kubernetes version of the control plane; the add-ons follow it."""
    public_access_cidrs: tuple[str, ...]
    """Networks a public API endpoint answers; empty: private endpoint only, reachable from the VPC
    and what is connected to it."""
    admin_role_arns: tuple[str, ...]
    """IAM roles given cluster-admin through access entries: nobody else, the cluster's creator included."""
    system_instance_type: str
    """Instance type of the small always-on, on-demand system node group (Karpenter runs there)."""
    log_types: tuple[str, ...]
    """Control-plane log types sent to CloudWatch (the audit log among them)."""
    log_retention_days: int
    """Days CloudWatch keeps them: the EKS audit trail, as long as the compliance profiles require."""

    @classmethod
    def of(cls, scope: AwsScope, cluster: EksClusterSettings, log_retention_days: int) -> EksClusterArgs:
        """The stack's EKS control plane, at its version (default: the pinned one), logging the log
        types hybridai/data/aws.yaml names; `log_retention_days`: the stack's (`eks_log_retention_days`)."""
        return cls(
            scope=scope,
            kubernetes_version=cluster.kubernetes_version(),
            public_access_cidrs=tuple(cluster.public_access_cidrs),
            admin_role_arns=tuple(cluster.admin_role_arns),
            system_instance_type=cluster.system_instance_type,
            log_types=tuple(catalog.aws().eks.log_types),
            log_retention_days=log_retention_days,
        )


class EksCluster(Module):
    """EKS, secure by default: a private API endpoint (public only for listed CIDRs), secrets
    envelope-encrypted with a rotating KMS key, control-plane logs with our retention, access
    entries only (no aws-auth ConfigMap, no implicit admin for whoever created it), a small
    on-demand system node group with its node role (the nodes Karpenter launches have their own),
    and the core add-ons.

    `target` is the cluster as a deploy target: a kubeconfig for this one cluster, authenticated
    by the deployer's AWS identity (`aws eks get-token`), which must be one of the admin roles.
    Anything deployed through it waits for the system nodes, add-ons and admin access.
    `audit_log`: the control plane's log group (its audit log), which modules/eks_audit.py archives."""

    def __init__(self, target: Target, args: EksClusterArgs, subnet_ids: list[pulumi.Input[str]], opts: pulumi.ResourceOptions | None = None):
        # Children keep the names they had under the TrainingPool component.
        scope = args.scope
        name = f"{target.prefix}-{scope.cluster}"
        super().__init__(component_type("eks_cluster", "EksCluster"), f"{name}-cluster", None, placed(target, opts))
        former = former_training_pool(target, scope.cluster)
        self.children_were_under = former
        self._name, self._provider = name, target.provider
        self.cluster_name = physical = scope.cluster_name

        self.secrets_key = protected_key(self, f"{name}-eks-key", f"{physical}-eks", "EKS secrets envelope encryption", self._provider)
        self.cluster = self._control_plane(args, physical, subnet_ids)
        admins = self._access_entries(args)
        # The system nodes' role (the nodes Karpenter launches join with one of their own).
        self.node_role = aws.iam.Role(f"{name}-node-role", name=f"{physical}-node", assume_role_policy=trust("ec2.amazonaws.com"), opts=self._opts())
        self.node_policies = [
            aws.iam.RolePolicyAttachment(f"{name}-node-role-{key}", role=self.node_role.name, policy_arn=arn, opts=self._opts()) for key, arn in NODE_POLICIES.items()
        ]
        system = self._system_nodes(args, physical, subnet_ids)
        self.addons = {
            addon: aws.eks.Addon(
                f"{name}-addon-{addon}",
                cluster_name=self.cluster.name,
                addon_name=addon,
                # EKS picks the add-on version that matches the cluster version; a cluster upgrade
                # moves them together.
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                # (CoreDNS and the node agent wait for the system nodes: their pods need somewhere to run
                # before the add-on reports active.)
                opts=self._opts(depends_on=[system] if addon in ("coredns", "eks-node-monitoring-agent") else [self.cluster]),
            )
            for addon in ADDONS
        }

        kubeconfig = pulumi.Output.all(self.cluster.endpoint, self.cluster.certificate_authority.data).apply(lambda a: _kubeconfig(physical, a[0], a[1], scope.region))
        self.kubeconfig = pulumi.Output.secret(kubeconfig)
        """For other stacks and operators: it names the cluster and `aws eks get-token`, holds no credential, and is kept secret anyway."""
        self.target = Target(scope.prefix, scope.cluster, TargetArgs(placement="cloud", kubeconfig=kubeconfig), opts=options(self, depends_on=[system, *admins, *self.addons.values()]))
        self.former_target = pulumi.create_urn(f"{scope.prefix}-{scope.cluster}", TARGET_TYPE, parent=former)
        """Where the cluster's Target was registered before the split (its platform's parts were under it)."""
        self.register_outputs({"clusterName": self.cluster.name, "clusterArn": self.cluster.arn, "endpoint": self.cluster.endpoint})

    def _control_plane(self, args: EksClusterArgs, physical: str, subnet_ids: list[pulumi.Input[str]]) -> aws.eks.Cluster:
        """The cluster (its role and audit log first): private, secrets envelope-encrypted with
        `secrets_key`, access entries only."""
        name = self._name
        cluster_role = aws.iam.Role(f"{name}-cluster-role", name=f"{physical}-cluster", assume_role_policy=trust("eks.amazonaws.com"), opts=self._opts())
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-role-policy", role=cluster_role.name, policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", opts=self._opts()
        )
        log_group = self.audit_log = self._audit_log(args, physical)
        public = bool(args.public_access_cidrs)
        return aws.eks.Cluster(
            f"{name}-eks",
            name=physical,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config={
                "subnet_ids": subnet_ids,
                "endpoint_private_access": True,
                # Private by default; a public endpoint only ever answers the listed networks.
                "endpoint_public_access": public,
                **({"public_access_cidrs": list(args.public_access_cidrs)} if public else {}),
            },
            encryption_config={"provider": {"key_arn": self.secrets_key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=list(args.log_types),
            # Access entries only (no aws-auth ConfigMap), and no implicit admin for whoever created it.
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            # The cluster holds every Kubernetes object and secret of the pool: a replacement or a
            # stray destroy would lose them, so it is protected and left in place on delete.
            opts=self._opts(depends_on=[log_group, cluster_policy], protect=True, retain_on_delete=True),
        )

    def _audit_log(self, args: EksClusterArgs, physical: str) -> aws.cloudwatch.LogGroup:
        """The control plane's audit log: created before the cluster so retention is ours (EKS would
        create it with no expiry), encrypted with a key of its own, and kept — protected, and left
        in place if a change ever removes it — because audit records must outlive any deploy."""
        name = self._name
        log_group_name = control_plane_log_group(physical)
        log_group_arn = f"arn:aws:logs:{args.scope.region}:{args.scope.account_id}:log-group:{log_group_name}"
        logs_key = protected_key(
            self,
            f"{name}-logs-key",
            f"{physical}-logs",
            "EKS control-plane logs",
            self._provider,
            policy=key_policy(args.scope.account_id, logs_encrypt(args.scope.region, log_group_arn)),
        )
        return aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=logs_key.arn,
            opts=self._opts(protect=True, retain_on_delete=True),
        )

    def _system_nodes(self, args: EksClusterArgs, physical: str, subnet_ids: list[pulumi.Input[str]]) -> aws.eks.NodeGroup:
        """The small on-demand system node group, where the cluster's controllers (Karpenter among them) run."""
        name = self._name
        return node_group(
            self,
            f"{name}-system",
            f"{physical}-system",
            provider=self._provider,
            cluster=self.cluster,
            role=self.node_role,
            subnet_ids=subnet_ids,
            depends_on=self.node_policies,
            instance_types=[args.system_instance_type],
            ami_type="AL2023_x86_64_STANDARD",
            capacity="ON_DEMAND",
            scaling={"desired_size": 2, "min_size": 2, "max_size": 3},
            labels={NODE_ROLE_LABEL: ROLE_SYSTEM},
            disk_gb=50,
        )

    def _opts(self, **opts) -> pulumi.ResourceOptions:
        return options(self, provider=self._provider, **opts)

    def _access_entries(self, args: EksClusterArgs) -> list[pulumi.Resource]:
        created = []
        for arn in args.admin_role_arns:
            role = arn.rsplit("/", 1)[-1].lower()
            entry = aws.eks.AccessEntry(f"{self._name}-admin-{role}", cluster_name=self.cluster.name, principal_arn=arn, type="STANDARD", opts=self._opts())
            created.append(
                aws.eks.AccessPolicyAssociation(
                    f"{self._name}-admin-{role}-policy",
                    cluster_name=self.cluster.name,
                    principal_arn=arn,
                    policy_arn=ADMIN_POLICY,
                    access_scope={"type": "cluster"},
                    opts=self._opts(depends_on=[entry]),
                )
            )
        return created


def _kubeconfig(cluster: str, endpoint: str, authority: str, region: str) -> str:
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": ["eks", "get-token", "--cluster-name", cluster, "--region", region, "--output", "json"]}}
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"server": endpoint, "certificate-authority-data": authority}}],
            "users": [{"name": cluster, "user": user}],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
            "current-context": cluster,
        },
        sort_keys=True,
    )
