"""Nested marketplace objects validated for a whole answer at once read the same as one by one."""

from __future__ import annotations

import copy
import gc
import json
import pickle
from typing import Any, Dict, List

import httpx

from clore_ai._endpoints import _MARKETPLACE
from clore_ai._lazy import BATCH_AFTER
from clore_ai.models import MarketplaceServer, NetSpecs, ServerPrice, ServerRating, ServerSpecs, UsdPrice
from clore_ai.sandbox import Sandbox, SandboxTransport

COUNT = BATCH_AFTER * 3


def _body(odd: Dict[int, Dict[str, Any]]) -> bytes:
    """A sandbox marketplace answer with some servers' fields replaced by odd shapes."""
    with httpx.Client(transport=SandboxTransport(Sandbox(servers=COUNT))) as client:
        servers: List[Dict[str, Any]] = client.get("http://sandbox.test/v1/marketplace").json()["servers"]
    del servers[COUNT:]
    for index, fields in odd.items():
        servers[index].update(fields)
    return json.dumps({"code": 0, "servers": servers}).encode()


def _one_at_a_time(body: bytes) -> List[Dict[str, Any]]:
    """Each server's nested objects validated alone (no batch), dumped."""
    raw = json.loads(body)["servers"]
    models = {"specs": ServerSpecs, "price": ServerPrice, "rating": ServerRating}
    return [
        {name: model.model_validate(item[name]).model_dump() for name, model in models.items()}
        for item in raw
    ]


def test_reading_every_server_matches_validating_each_alone() -> None:
    body = _body({})
    _, servers = _MARKETPLACE(body)
    read = [
        {
            "specs": server.specs.model_dump(),
            "price": server.price.model_dump(),
            "rating": server.rating.model_dump(),
        }
        for server in servers
    ]
    assert read == _one_at_a_time(body)
    assert all(type(s.specs) is ServerSpecs and type(s.price) is ServerPrice for s in servers)
    assert all(type(s.specs.ram) is float for s in servers if s.specs.ram is not None)


def test_an_odd_nested_value_in_a_batch_costs_only_that_value() -> None:
    last = COUNT - 1
    body = _body({last: {"specs": {"ram": "lots", "gpu": "1x RTX 4090"}}, last - 1: {"rating": "five stars"}})
    _, servers = _MARKETPLACE(body)
    assert len(servers) == COUNT
    specs = [server.specs for server in servers]  # past BATCH_AFTER: the rest at once
    ratings = [server.rating for server in servers]
    assert specs[last] is not None and specs[last].ram is None and specs[last].gpu == "1x RTX 4090"
    assert ratings[last - 1] is None
    assert servers[last - 1].unread_fields == {"rating": "five stars"}
    assert specs[0] == ServerSpecs.model_validate(json.loads(body)["servers"][0]["specs"])
    assert gc.isenabled()


def test_the_batch_is_not_dumped_compared_copied_or_pickled() -> None:
    body = _body({})
    _, first = _MARKETPLACE(body)
    _, second = _MARKETPLACE(body)
    for server in first:
        server.specs  # noqa: B018 - the first answer fully read, the second not at all
    assert first == second
    assert first[0].model_dump() == second[0].model_dump()
    clone = pickle.loads(pickle.dumps(second[5]))
    assert clone == first[5] and isinstance(clone, MarketplaceServer)
    assert copy.deepcopy(second[6]) == first[6]
    assert "batch" not in repr(second[7])


def test_objects_two_deep_wait_for_their_own_first_read_then_go_as_one_batch() -> None:
    body = _body({})
    _, servers = _MARKETPLACE(body)
    specs = [server.specs for server in servers]
    prices = [server.price for server in servers]
    assert all(type(one.__dict__["net"]) is dict for one in specs)  # `net` not built yet
    assert all(type(one.__dict__["usd"]) is dict for one in prices)
    # The first BATCH_AFTER specs were read one at a time; the others were built as one batch.
    for one in specs[-BATCH_AFTER - 1 :]:
        assert type(one.net) is NetSpecs
    assert type(specs[BATCH_AFTER].__dict__["net"]) is NetSpecs  # past BATCH_AFTER: the rest at once
    assert type(prices[-1].usd) is UsdPrice
    raw = json.loads(body)["servers"]
    assert [one.net.model_dump() for one in specs] == [
        NetSpecs.model_validate(item["specs"]["net"]).model_dump() for item in raw
    ]
    assert [one.usd for one in prices] == [UsdPrice.model_validate(item["price"]["usd"]) for item in raw]
    assert gc.isenabled()


def test_an_odd_value_two_deep_costs_only_that_value() -> None:
    last = COUNT - 1
    raw = json.loads(_body({}))["servers"]
    odd_net = {**raw[last]["specs"], "net": "fast"}
    odd_usd = {**raw[last - 1]["price"], "usd": {**raw[last - 1]["price"]["usd"], "spot": "cheap"}}
    _, servers = _MARKETPLACE(_body({last: {"specs": odd_net}, last - 1: {"price": odd_usd}}))
    nets = [server.specs.net for server in servers]
    usds = [server.price.usd for server in servers]
    assert nets[last] is None and servers[last].specs.unread_fields == {"net": "fast"}
    assert servers[last].specs.gpu == raw[last]["specs"]["gpu"]
    assert usds[last - 1].spot is None and usds[last - 1].unread_fields == {"spot": "cheap"}
    assert usds[last - 1].on_demand_usd == raw[last - 1]["price"]["usd"]["on_demand_usd"]
    assert all(net is not None for net in nets[:last])


def test_a_model_built_by_hand_reads_its_lazy_fields_validated() -> None:
    by_dict = ServerSpecs(net={"cc": "DE", "down": "900"})
    assert by_dict.net == NetSpecs(cc="DE", down=900.0) and type(by_dict.net.down) is float
    assert by_dict == ServerSpecs(net=NetSpecs(cc="DE", down=900.0))
    assert ServerPrice.model_validate({"usd": {"spot": 1}}).usd == UsdPrice(spot=1.0)
    assert ServerSpecs.model_validate({"net": {"cc": "DE"}}).model_dump()["net"] == {
        "cc": "DE",
        "down": None,
        "up": None,
    }
