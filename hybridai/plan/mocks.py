"""Plausible outputs for mocked resources, so that resources depending on them render fully.

Outputs are a function of the resource's type, name and inputs only: two plans of the same stack
produce the same ids, and so byte-identical artifacts.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

import pulumi

_NAMESPACE = uuid.UUID("6f1c8a52-8f7e-4a5e-9a8e-2b3f4c5d6e7f")


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "::".join(parts)))


def _kubernetes(args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
    metadata = dict(args.inputs.get("metadata") or {})
    name = metadata.get("name") or args.name
    namespace = metadata.get("namespace")
    metadata.setdefault("name", name)
    metadata["uid"] = stable_id(args.typ, args.name)
    return (f"{namespace}/{name}" if namespace else name), {**args.inputs, "metadata": metadata}


def _helm_release(args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
    inputs = args.inputs
    name = inputs.get("name") or args.name
    status = {
        "name": name,
        "namespace": inputs.get("namespace", "default"),
        "chart": inputs.get("chart"),
        "version": inputs.get("version"),
        "status": "deployed",
        "revision": 1,
    }
    return f"{status['namespace']}/{name}", {**inputs, "status": status}


def _provider(args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
    return stable_id(args.typ, args.name), dict(args.inputs)


def _hex(length: int, *parts: str) -> str:
    return hashlib.sha256("::".join(parts).encode()).hexdigest()[:length]


@dataclass
class AwsAccount:
    """Region and account of an AWS provider, read from its inputs (`allowedAccountIds`)."""

    region: str
    account: str

    @classmethod
    def of(cls, inputs: dict) -> AwsAccount:
        accounts = inputs.get("allowedAccountIds") or "[]"
        accounts = json.loads(accounts) if isinstance(accounts, str) else accounts
        # A provider without an allowed account gets the documentation account id of AWS.
        return cls(region=inputs.get("region") or "us-east-1", account=(accounts or ["123456789012"])[0])


# EC2-style ids by type: the prefix AWS uses for that kind of object.
_EC2_IDS = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
}


def _aws(args: pulumi.runtime.MockResourceArgs, account: AwsAccount) -> tuple[str, dict]:
    """Outputs AWS would return: ids in AWS's formats, ARNs, endpoints, names."""
    inputs, typ, region, acct = dict(args.inputs), args.typ, account.region, account.account
    service = typ.split(":")[1].split("/")[0]
    name = inputs.get("name") or inputs.get("bucket") or args.name
    if typ in _EC2_IDS:
        resource_id = f"{_EC2_IDS[typ]}-{_hex(17, typ, args.name)}"
        outputs = {"arn": f"arn:aws:ec2:{region}:{acct}:{_EC2_IDS[typ]}/{resource_id}"}
        if typ == "aws:ec2/launchTemplate:LaunchTemplate":
            outputs |= {"latestVersion": 1, "defaultVersion": 1}
        if typ == "aws:ec2/eip:Eip":
            outputs |= {"allocationId": resource_id}
        return resource_id, {**inputs, **outputs}
    if typ == "aws:kms/key:Key":
        key_id = stable_id(typ, args.name)
        return key_id, {**inputs, "keyId": key_id, "arn": f"arn:aws:kms:{region}:{acct}:key/{key_id}"}
    if typ == "aws:iam/role:Role":
        return name, {**inputs, "name": name, "arn": f"arn:aws:iam::{acct}:role/{name}", "uniqueId": "AROA" + _hex(17, name).upper()}
    if typ == "aws:s3/bucket:Bucket":
        return name, {**inputs, "bucket": name, "arn": f"arn:aws:s3:::{name}", "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com", "region": region}
    if typ == "aws:eks/cluster:Cluster":
        endpoint = f"https://{_hex(32, name).upper()}.gr7.{region}.eks.amazonaws.com"
        # A syntactically valid base64 string; no real certificate exists for a planned cluster.
        authority = base64.b64encode(f"planned CA of {name}".encode()).decode()
        # EKS makes the cluster security group every node joins.
        vpc = {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{_hex(17, typ, name)}"}
        return name, {**inputs, "name": name, "arn": f"arn:aws:eks:{region}:{acct}:cluster/{name}", "endpoint": endpoint, "certificateAuthority": {"data": authority}, "status": "ACTIVE", "vpcConfig": vpc}
    if typ == "aws:ecr/repository:Repository":
        return name, {**inputs, "arn": f"arn:aws:ecr:{region}:{acct}:repository/{name}", "registryId": acct, "repositoryUrl": f"{acct}.dkr.ecr.{region}.amazonaws.com/{name}"}
    if typ == "aws:cloudtrail/trail:Trail":
        return name, {**inputs, "arn": f"arn:aws:cloudtrail:{region}:{acct}:trail/{name}"}
    if typ == "aws:cloudwatch/logGroup:LogGroup":
        return name, {**inputs, "arn": f"arn:aws:logs:{region}:{acct}:log-group:{name}"}
    resource = typ.rsplit(":", 1)[-1].lower()
    return f"{name}", {**inputs, "arn": f"arn:aws:{service}:{region}:{acct}:{resource}/{name}"}


def _aws_call(token: str, account: AwsAccount) -> dict:
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        names = [f"{account.region}{zone}" for zone in "abc"]
        return {"names": names, "zoneIds": [f"{account.region[:3]}{account.region[-1]}-az{i + 1}" for i in range(3)], "id": account.region}
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": account.account, "arn": f"arn:aws:iam::{account.account}:root", "id": account.account, "userId": account.account}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
    raise KeyError(token)


class PlanMocks(pulumi.runtime.Mocks):
    """Never raises: an exception inside the mock monitor hangs the SDK instead of failing it, so
    errors are kept and reported by the engine after the run."""

    def __init__(self, references: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.errors: list[str] = []
        self.references = dict(references or {})
        """Stack name (`<organization>/<project>/<stack>`) → the outputs a `pulumi.StackReference` to
        it reads: under the offline plan, that stack's own plan outputs (hybridai/plan/fleet.py)."""
        self._aws: dict[str, AwsAccount] = {}
        self._lock = threading.Lock()

    def _account(self, provider_ref: str | None) -> AwsAccount:
        provider_id = (provider_ref or "").rsplit("::", 1)[-1]
        with self._lock:
            return self._aws.get(provider_id) or AwsAccount.of({})

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        try:
            if args.typ == "pulumi:pulumi:StackReference":
                return self._stack_reference(args)
            if args.typ == "pulumi:providers:aws":
                provider_id, outputs = _provider(args)
                with self._lock:
                    self._aws[provider_id] = AwsAccount.of(args.inputs)
                return provider_id, outputs
            if args.typ.startswith("pulumi:providers:"):
                return _provider(args)
            if args.typ == "kubernetes:helm.sh/v3:Release":
                return _helm_release(args)
            if args.typ.startswith("kubernetes:"):
                return _kubernetes(args)
            if args.typ.startswith("aws:"):
                return _aws(args, self._account(args.provider))
            return stable_id(args.typ, args.name), dict(args.inputs)
        except Exception as err:  # noqa: BLE001 - reported after the run, see class docstring
            self.errors.append(f"mock outputs for {args.typ} {args.name}: {err!r}")
            return stable_id(args.typ, args.name), dict(args.inputs)

    def _stack_reference(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        """A StackReference read as the engine answers it: the referenced stack's outputs."""
        name = args.inputs.get("name") or args.resource_id or args.name
        if name not in self.references:
            known = ", ".join(sorted(self.references)) or "none"
            self.errors.append(f"stack reference {args.name} reads stack {name!r}, which this plan was given no outputs of (given: {known})")
            return name, {"name": name, "outputs": {}, "secretOutputNames": []}
        return name, {"name": name, "outputs": dict(self.references[name]), "secretOutputNames": []}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        try:
            if args.token.startswith("aws:"):
                return _aws_call(args.token, self._account(args.provider)), []
        except KeyError:
            pass
        self.errors.append(f"no mock for function {args.token}")
        return {}, []
