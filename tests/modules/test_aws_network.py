"""AwsNetwork's args: the pool's VPC as the stack describes it, its zones and NAT gateways
defaulted for the environment."""
from __future__ import annotations

import pytest

from hybridai.modules.aws_network import AwsNetworkArgs
from hybridai.modules.target import AwsScope
from tests.helpers import prepared


def network_of(stack: str, **network) -> AwsNetworkArgs:
    spec, _ = prepared(stack)
    scope = AwsScope.of(spec.cloud, spec.prefix, spec.environment, spec.cost_center)
    return AwsNetworkArgs.of(scope, spec.cloud.network.model_copy(update=network), spec.environment)


@pytest.mark.parametrize(("stack", "zones", "nat"), [("finance-prod", 3, "per-az"), ("finance-dev", 2, "single")])
def test_production_survives_the_loss_of_a_zone_by_default(stack: str, zones: int, nat: str) -> None:
    # GIVEN a stack that sets neither `availabilityZones` nor `natGateways` WHEN its network's args are made
    args = network_of(stack)
    # THEN prod spans three zones, each egressing through its own NAT gateway; dev two zones and one gateway
    assert (args.availability_zones, args.nat_gateways) == (zones, nat)
    # AND a new VPC of the stack's CIDR, named after the pool
    assert (args.existing_vpc_id, args.scope.cluster_name) == (None, f"{prepared(stack)[0].prefix}-training")


def test_what_the_stack_sets_wins_over_the_environments_default() -> None:
    # GIVEN prod asking for two zones and one NAT gateway in an existing VPC
    args = network_of("finance-prod", availability_zones=2, nat_gateways="single", existing_vpc_id="vpc-0123abcd", existing_private_subnet_ids=["subnet-0a1b2c3d", "subnet-0e1f2a3b"])
    # THEN that is what the network gets
    assert (args.availability_zones, args.nat_gateways) == (2, "single")
    assert (args.existing_vpc_id, args.existing_private_subnet_ids) == ("vpc-0123abcd", ("subnet-0a1b2c3d", "subnet-0e1f2a3b"))
