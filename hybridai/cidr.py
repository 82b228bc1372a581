"""The one rule for network allow-lists, shared by config validation and the policy pack.

An allow-list (who may reach the EKS API, which line equipment may call edge inference) is a list
of networks in CIDR notation. A list may not open a door to the internet: the public addresses its
networks cover together — overlaps counted once, private and reserved ranges not at all — may not
exceed the share of the public address space one /8 holds (1/256 of it), unless the stack gives a
written reason. A union is measured, not each entry, because `0.0.0.0/1` and `128.0.0.0/1` are two
modest-looking entries that together are the whole internet.
"""
from __future__ import annotations

import ipaddress
from typing import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

WIDEST_PUBLIC_PREFIX = 8
"""Public addresses an allow-list may cover without a written reason: as many as one /8 holds
(the same share of each family's space for IPv6)."""


class CidrError(ValueError):
    """An entry that is not a network in CIDR notation."""


def network(text: str) -> Network:
    """A network in CIDR notation with no host bits set (`10.1.2.3/8` is refused: it usually means
    a typo, and the list would cover more or less than its author thought)."""
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        if "host bits set" in str(error):
            base = ipaddress.ip_network(text, strict=False)
            raise CidrError(f"{text} has host bits set; the network is {base}") from None
        raise CidrError(f"{text!r} is not a network in CIDR notation such as 10.64.0.0/16") from None


def _non_public(version: int) -> list[Network]:
    """Ranges no one on the internet reaches through: private, shared, loopback, link-local, etc."""
    if version == 4:
        ranges = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
                  "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4"]
    else:
        ranges = ["::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8"]
    return [ipaddress.ip_network(r) for r in ranges]


def public_addresses(networks: Iterable[Network]) -> dict[int, int]:
    """IP version → public addresses the networks cover together (overlaps counted once)."""
    out: dict[int, int] = {}
    for version in (4, 6):
        union = list(ipaddress.collapse_addresses(n for n in networks if n.version == version))
        if not union:
            continue
        hidden = list(ipaddress.collapse_addresses(_non_public(version)))
        total = 0
        for net in union:
            covered = net.num_addresses
            for private in hidden:
                if private.subnet_of(net):
                    covered -= private.num_addresses
                elif net.subnet_of(private):
                    covered = 0
                    break
            total += covered
        out[version] = total
    return out


def too_wide(networks: Iterable[Network]) -> list[str]:
    """Why the list opens too much of the internet (empty: it doesn't)."""
    reasons = []
    for version, count in public_addresses(list(networks)).items():
        bits = 32 if version == 4 else 128
        limit = 2 ** (bits - WIDEST_PUBLIC_PREFIX)
        if count > limit:
            share = count / 2**bits
            reasons.append(f"together they open {share:.1%} of the public IPv{version} space, more than a /{WIDEST_PUBLIC_PREFIX} ({1 / 2**WIDEST_PUBLIC_PREFIX:.2%})")
    return reasons


def check_allow_list(entries: Iterable[str]) -> tuple[list[Network], list[str]]:
    """The networks of an allow-list and the problems with it: malformed entries, then width."""
    networks, problems = [], []
    for entry in entries:
        try:
            networks.append(network(entry))
        except CidrError as error:
            problems.append(str(error))
    if not problems:
        problems += too_wide(networks)
    return networks, problems


VPC_SPLIT_BITS = 3
"""A new VPC is cut in eight: the private subnets take the first blocks whole (the VPC CNI gives
every pod an address), the public subnets, which hold only NAT gateways, small ones of the last."""
PUBLIC_EXTRA_BITS = 5
"""A public subnet is a 32nd of that last block (or the smallest subnet AWS allows, if larger)."""


def subnet_layout(vpc_cidr: str, zones: int, subnet_prefix: tuple[int, int]) -> tuple[list[str], list[str]]:
    """The private and the public subnet of each of `zones` availability zones in a new VPC of
    `vpc_cidr`, each between `subnet_prefix` (AWS's shortest and longest); CidrError when the VPC is
    too small to hold them."""
    vpc = network(vpc_cidr)
    shortest, longest = subnet_prefix
    blocks = list(vpc.subnets(prefixlen_diff=VPC_SPLIT_BITS))
    public_prefix = min(longest, blocks[-1].prefixlen + PUBLIC_EXTRA_BITS)
    if blocks[0].prefixlen > longest or public_prefix < blocks[-1].prefixlen or 2 ** (public_prefix - blocks[-1].prefixlen) < zones:
        largest = longest - VPC_SPLIT_BITS - max(zones - 1, 0).bit_length()
        raise CidrError(f"{vpc_cidr} is too small for {zones} zones' subnets (each at least a /{longest}): use a /{largest} or larger")
    if blocks[0].prefixlen < shortest:
        raise CidrError(f"{vpc_cidr} would give /{blocks[0].prefixlen} subnets, larger than AWS's /{shortest}: use a /{shortest - VPC_SPLIT_BITS} or smaller")
    public = list(blocks[-1].subnets(new_prefix=public_prefix))
    return [str(b) for b in blocks[:zones]], [str(b) for b in public[:zones]]
