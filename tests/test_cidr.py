"""hybridai/cidr.py: the allow-list rule's helpers and the one layout of a new VPC's subnets."""
from __future__ import annotations

import ipaddress

import pytest

from hybridai import catalog
from hybridai.cidr import CidrError, subnet_layout

AWS = catalog.limits().aws.subnet_prefix


def test_a_vpc_is_cut_into_big_private_and_small_public_subnets_one_each_per_zone() -> None:
    # GIVEN the default VPC of a prod pool (a /16 over three zones)
    private, public = subnet_layout("10.64.0.0/16", 3, AWS)
    # THEN three /19 private subnets (pods get addresses there) and three /24 public ones in the last eighth
    assert private == ["10.64.0.0/19", "10.64.32.0/19", "10.64.64.0/19"]
    assert public == ["10.64.224.0/24", "10.64.225.0/24", "10.64.226.0/24"]
    # AND none overlaps another, all inside the VPC
    nets = [ipaddress.ip_network(n) for n in private + public]
    assert all(n.subnet_of(ipaddress.ip_network("10.64.0.0/16")) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


def test_the_smallest_vpc_the_config_takes_holds_the_most_zones() -> None:
    # GIVEN the config's smallest VPC (a /20: room for pods) and its most zones (3)
    private, public = subnet_layout("10.64.0.0/20", 3, AWS)
    # THEN every subnet is a size AWS accepts
    assert all(AWS[0] <= ipaddress.ip_network(n).prefixlen <= AWS[1] for n in private + public)
    assert len(private) == len(public) == 3


@pytest.mark.parametrize("vpc, zones, message", [("10.0.0.0/24", 3, "use a /23 or larger"), ("10.0.0.0/26", 2, "use a /24 or larger")])
def test_a_vpc_too_small_for_its_zones_says_how_large_it_must_be(vpc: str, zones: int, message: str) -> None:
    # GIVEN a VPC whose eighths or public subnets would be smaller than AWS's /28 WHEN laid out THEN refused, saying the size that fits
    with pytest.raises(CidrError, match=message):
        subnet_layout(vpc, zones, AWS)
