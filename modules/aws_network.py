"""AwsNetwork: the VPC a cloud burst pool's cluster and nodes live in (or an existing one)."""
from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_aws as aws

from hybridai import catalog
from hybridai.cidr import subnet_layout
from hybridai.config.cloud import Network
from hybridai.recorded import component_type
from hybridai.modules.base import Args, Module, former_training_pool, options, placed
from hybridai.modules.target import AwsScope, Target


class AwsNetworkArgs(Args):
    scope: AwsScope
    """The stack's account and EKS cluster: the network's names are `<prefix>-<cluster>-…`."""
    vpc_cidr: str
    """CIDR of the new VPC: split in eight, the private subnets take the big blocks (the VPC CNI
    gives every pod an address), the public ones small blocks of the last."""
    availability_zones: int
    """Zones the subnets span (2 or 3): the cluster survives the loss of all but one of them."""
    nat_gateways: Literal["per-az", "single"]
    """`per-az`: each zone's private subnets egress through a gateway of their own zone, surviving a
    zone outage; `single`: one gateway for all, cheaper."""
    existing_vpc_id: str | None = None
    """Use this VPC as it is instead of creating one; default: None, a new VPC."""
    existing_private_subnet_ids: tuple[str, ...] = ()
    """With `existing_vpc_id`: its private subnets the cluster and nodes run in."""

    @classmethod
    def of(cls, scope: AwsScope, network: Network, environment: str) -> AwsNetworkArgs:
        """The pool's network as the stack describes it, zones and NAT gateways defaulted for its environment."""
        return cls(
            scope=scope,
            vpc_cidr=network.vpc_cidr,
            availability_zones=network.zones(environment),
            nat_gateways=network.nat(environment),
            existing_vpc_id=network.existing_vpc_id,
            existing_private_subnet_ids=tuple(network.existing_private_subnet_ids),
        )


class AwsNetwork(Module):
    """Private subnets across availability zones with NAT egress, in a new VPC — or the private
    subnets of an existing VPC, used as they are. `private_subnet_ids` is what the cluster and its
    nodes run in; nothing here gets a public address."""

    private_subnet_ids: list[pulumi.Input[str]]

    def __init__(self, target: Target, args: AwsNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        # Children keep the names they had under the TrainingPool component.
        name = f"{target.prefix}-{args.scope.cluster}"
        super().__init__(component_type("aws_network", "AwsNetwork"), f"{name}-network", None, placed(target, opts))
        self.children_were_under = former_training_pool(target, args.scope.cluster)
        self._name, self._provider = name, target.provider
        self.private_subnet_ids = list(args.existing_private_subnet_ids) if args.existing_vpc_id else self._vpc(args, args.scope.cluster_name)
        self.register_outputs({"privateSubnetIds": self.private_subnet_ids})

    def _opts(self, **opts) -> pulumi.ResourceOptions:
        return options(self, provider=self._provider, **opts)

    def _vpc(self, args: AwsNetworkArgs, physical: str) -> list[pulumi.Input[str]]:
        name = self._name
        # The config checked this layout fits (hybridai/cidr.py: private subnets take the big blocks).
        private_cidrs, public_cidrs = subnet_layout(args.vpc_cidr, args.availability_zones, catalog.limits().aws.subnet_prefix)

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.vpc_cidr, enable_dns_hostnames=True, enable_dns_support=True, tags={"Name": physical}, opts=self._opts())
        zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOptions(parent=self, provider=self._provider))
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": physical}, opts=self._opts())
        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}], tags={"Name": f"{physical}-public"}, opts=self._opts())

        nats: list[aws.ec2.NatGateway] = []
        private_ids = []
        for i in range(args.availability_zones):
            zone = zones.names.apply(lambda names, i=i: names[i])
            # Only NAT gateways live in the public subnets.
            public = self._subnet(vpc, physical, "public", i, public_cidrs[i], zone, {"kubernetes.io/role/elb": "1"})
            aws.ec2.RouteTableAssociation(f"{name}-public-{i}-rta", subnet_id=public.id, route_table_id=public_rt.id, opts=self._opts())
            if args.nat_gateways == "per-az" or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{i}-eip", domain="vpc", tags={"Name": f"{physical}-nat-{i}"}, opts=self._opts())
                nats.append(aws.ec2.NatGateway(f"{name}-nat-{i}", subnet_id=public.id, allocation_id=eip.allocation_id, tags={"Name": f"{physical}-nat-{i}"}, opts=self._opts(depends_on=[igw])))
            private = self._subnet(vpc, physical, "private", i, private_cidrs[i], zone, {"kubernetes.io/role/internal-elb": "1", f"kubernetes.io/cluster/{physical}": "shared"})
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{i}-rt", vpc_id=vpc.id, routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nats[-1].id}], tags={"Name": f"{physical}-private-{i}"}, opts=self._opts()
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}-rta", subnet_id=private.id, route_table_id=private_rt.id, opts=self._opts())
            private_ids.append(private.id)
        return private_ids

    def _subnet(self, vpc: aws.ec2.Vpc, physical: str, kind: str, i: int, cidr: str, zone: pulumi.Input[str], tags: dict[str, str]) -> aws.ec2.Subnet:
        """Subnet `i` of a kind (public, private) in its zone. Nothing launched in it gets a public
        address unless asked."""
        return aws.ec2.Subnet(
            f"{self._name}-{kind}-{i}",
            vpc_id=vpc.id,
            cidr_block=cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags={"Name": f"{physical}-{kind}-{i}", **tags},
            opts=self._opts(),
        )
