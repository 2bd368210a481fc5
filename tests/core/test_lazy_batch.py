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
from clore_ai.models import MarketplaceServer, ServerPrice, ServerRating, ServerSpecs
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
