"""What `search` leaves for `--gpu` completion: every GPU name of the listing, each once."""

from __future__ import annotations

from clore_ai import CloreAI
from clore_ai.models import MarketplaceServer
from clore_ai.sandbox import Sandbox, SandboxTransport
from clore_cli._cache import recall, remember_gpus


def test_every_gpu_name_of_the_listing_is_offered_once_also_from_nested_arrays() -> None:
    client = CloreAI(api_key="k", transport=SandboxTransport(Sandbox(servers=400)))
    servers = list(client.marketplace(available_only=False))
    servers += [
        MarketplaceServer.model_validate({"id": 90001, "gpu_array": [[" GTX 745"], ["GTX 745"]]}),
        MarketplaceServer.model_validate({"id": 90002, "gpu_array": [["Tesla P4"]]}),
        MarketplaceServer.model_validate({"id": 90003, "gpu_array": None}),
    ]
    remember_gpus(servers)
    offered = [value for value, description in recall("gpus")]
    every_name = {name for server in servers for name in server.gpu_names}
    assert sorted(offered) == sorted(every_name)
    assert {"GTX 745", "Tesla P4", "RTX 4090"} <= set(offered)
    assert len(offered) == len(set(offered))
