"""DevicePlugin's args: a Jetson site's nodes as one GPU pool named after it, the plugin pulled
through the site's mirror by digest."""
from __future__ import annotations

from hybridai.modules.device_plugin import DevicePluginArgs
from tests.helpers import prepared


def test_a_jetson_sites_nodes_are_one_pool_and_its_plugin_comes_by_digest_from_its_mirror() -> None:
    # GIVEN manufacturing-prod's Jetson site line-3 WHEN its device plugin's args are made
    spec, _ = prepared("manufacturing-prod")
    line3 = next(s for s in spec.sites if s.name == "line-3")
    args = DevicePluginArgs.of(line3, spec.gpu_operator.namespace, spec.monitoring.namespace)
    # THEN its nodes form the pool `line-3` of Orin modules, one GPU each
    assert (args.pool, args.gpu_model, args.nodes, args.gpus_per_node) == ("line-3", "Orin-AGX-64GB", ("line3-orin-01",), 1)
    # AND the plugin is pulled through the site's mirror at the digest the stack gives
    assert (args.registry_mirror, args.image_digest) == ("mirror.line-3.plant-a.example:5000", line3.image_digests["device-plugin"])
    assert (args.namespace, args.monitoring_namespace) == ("gpu-operator", "monitoring")
