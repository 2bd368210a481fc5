"""The marketplace's nested objects (``_nested``): msgspec structs with a pydantic surface.

The fast reader (msgspec, strict) must never give a value the pydantic reading would not:
it either gives exactly the same objects or refuses, and the caller then reads the pydantic
way. These tests hold it to that on recorded answers and on a few thousand odd values.
"""

from __future__ import annotations

import copy
import json
import pickle
import random
from pathlib import Path
from typing import Any, Dict, List, Type

import pytest
from pydantic import ValidationError

from clore_ai import MarketplaceServer, NetSpecs, ServerPrice, ServerRating, ServerSpecs, UsdPrice
from clore_ai._lazy import keep_unread
from clore_ai._nested import NestedModel, convert_many, decode_many, decode_one

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "real-samples"
NESTED: Dict[str, Type[NestedModel]] = {"specs": ServerSpecs, "price": ServerPrice, "rating": ServerRating}


def _typed(value: Any) -> Any:
    """A value with the type of every leaf spelled out (``1 == 1.0``; a reader's types must match)."""
    if isinstance(value, NestedModel):
        return (
            type(value).__name__,
            {name: _typed(getattr(value, name)) for name in value.__struct_fields__},
        )
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, repr(value))


def _agree(model: Type[NestedModel], value: Any) -> bool:
    """True when the fast reader read ``value``; either way it must not differ from pydantic's."""
    fast = decode_one(model, json.dumps(value).encode())
    if fast is NotImplemented:
        return False
    expected = None if value is None else model.model_validate(value)
    assert _typed(fast) == _typed(expected), value
    return True


def _recorded_nested() -> List[Any]:
    found = []
    for path in sorted(SAMPLES.glob("*.json")):
        body = json.loads(path.read_text()).get("body")
        for server in (body or {}).get("servers", []) if isinstance(body, dict) else []:
            if isinstance(server, dict):
                found.extend((NESTED[name], server[name]) for name in NESTED if name in server)
    return found


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="the real samples live outside this clone")
def test_every_recorded_nested_object_reads_the_same_both_ways() -> None:
    recorded = _recorded_nested()
    assert len(recorded) > 20
    assert all(_agree(model, value) for model, value in recorded)


ODD_LEAVES: List[Any] = [
    None,
    0,
    1,
    -7,
    11,
    2**63,
    10**30,
    0.0,
    -0.0,
    1.5,
    11.0,
    1e300,
    2.499e-05,
    "16",
    "1e3",
    "inf",
    "nan",
    "",
    "RTX 4090",
    " 4x ",
    True,
    False,
    [],
    [1, "a"],
    {},
    {"k": 1},
    [[[]]],
]


def test_odd_values_never_read_differently() -> None:
    """A few thousand objects with odd leaves: the fast reader reads many, differs on none."""
    chance = random.Random(15)
    fields = {
        model: list(model.__struct_fields__)
        for model in (ServerSpecs, ServerPrice, ServerRating, NetSpecs, UsdPrice)
    }
    read = refused = 0
    for _ in range(3000):
        model = chance.choice(list(fields))
        value: Dict[str, Any] = {}
        for name in chance.sample(fields[model], chance.randint(0, len(fields[model]))):
            leaf = chance.choice(ODD_LEAVES)
            if name in ("net", "usd") and chance.random() < 0.5:
                inner = NetSpecs if name == "net" else UsdPrice
                leaf = {key: chance.choice(ODD_LEAVES) for key in chance.sample(fields[inner], 2)}
            elif name in ("on_demand", "spot") and chance.random() < 0.5:
                leaf = {"bitcoin": chance.choice(ODD_LEAVES), "CLORE-Blockchain": chance.choice(ODD_LEAVES)}
            value[name] = leaf
        try:
            model.model_validate(value)
        except ValidationError:
            # The fast reader refuses what pydantic refuses: the lenient reading decides.
            assert decode_one(model, json.dumps(value).encode()) is NotImplemented, value
            refused += 1
            continue
        read += _agree(model, value)
    assert read > 300 and refused > 300


def test_the_fast_reader_refuses_what_only_pydantics_lax_rules_read() -> None:
    assert decode_one(ServerSpecs, b'{"ram": "16"}') is NotImplemented
    assert decode_one(ServerSpecs, b'{"pcie_rev": 4.0}') is NotImplemented
    assert ServerSpecs.model_validate({"ram": "16", "pcie_rev": 4.0}).ram == 16.0
    assert decode_many(ServerRating, b'[{"avg": 4.5}, {"cnt": "many"}]') is None
    assert convert_many(ServerRating, [{"avg": 4.5}, None]) == [ServerRating(avg=4.5), None]
    assert convert_many(ServerRating, [{"avg": 4.5}, "five"]) is None


def test_a_nested_object_reads_and_dumps_like_a_pydantic_model() -> None:
    specs = ServerSpecs.model_validate({"ram": 64, "gpu": "1x RTX 4090", "net": {"cc": "DE"}, "new_key": 1})
    assert specs == ServerSpecs(ram=64.0, gpu="1x RTX 4090", net=NetSpecs(cc="DE"))
    assert specs.ram == 64.0 and type(specs.ram) is float and specs.net is not None and specs.net.cc == "DE"
    assert repr(specs).startswith("ServerSpecs(mb=None, cpu=None")
    assert specs.model_dump()["net"] == {"cc": "DE", "down": None, "up": None}
    assert specs.model_dump(exclude_none=True) == {"ram": 64.0, "gpu": "1x RTX 4090", "net": {"cc": "DE"}}
    assert json.loads(specs.model_dump_json(include={"ram"})) == {"ram": 64.0}
    assert specs.model_copy(update={"ram": 8.0}).ram == 8.0 and specs.ram == 64.0
    assert pickle.loads(pickle.dumps(specs)) == specs == copy.deepcopy(specs)
    assert ServerSpecs.model_validate_json(b'{"cpus": "16/32"}').cpus == "16/32"
    assert "ram" in ServerSpecs.model_json_schema()["properties"]
    assert ServerSpecs.model_validate(specs) is specs
    with pytest.raises(ValidationError) as caught:
        ServerSpecs.model_validate({"ram": "lots", "net": {"down": "fast"}})
    assert sorted(error["loc"] for error in caught.value.errors()) == [("net", "down"), ("ram",)]


def test_a_server_dumps_its_nested_objects_as_plain_data() -> None:
    server = MarketplaceServer.model_validate(
        {"id": 7, "specs": {"ram": 3, "net": {"cc": "X"}}, "price": {"usd": {"spot": 1}}, "rating": None}
    )
    assert server.model_dump(mode="json", include={"specs", "price"}) == {
        "specs": {
            **dict.fromkeys(ServerSpecs.__struct_fields__),
            "ram": 3.0,
            "net": {"cc": "X", "down": None, "up": None},
        },
        "price": {
            "on_demand": None,
            "spot": None,
            "usd": {"on_demand_btc": None, "on_demand_clore": None, "on_demand_usd": None, "spot": 1.0},
            "original_usd": None,
        },
    }
    assert json.loads(server.model_dump_json(exclude_none=True)) == {
        "id": 7,
        "specs": {"ram": 3.0, "net": {"cc": "X"}},
        "price": {"usd": {"spot": 1.0}},
    }


def test_unread_fields_stay_with_their_object_and_out_of_its_equality() -> None:
    specs = ServerSpecs(ram=64.0)
    keep_unread(specs, "gpuram", "x")
    assert specs.unread_fields == {"gpuram": "x"} and ServerSpecs(ram=64.0).unread_fields == {}
    assert specs == ServerSpecs(ram=64.0)
