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
from typing import Any, Dict, List, Optional, Type

import pytest
from pydantic import ValidationError

import clore_ai._core as core
from clore_ai import CloreAI, MarketplaceServer, NetSpecs, ServerPrice, ServerRating, ServerSpecs, UsdPrice
from clore_ai._lazy import keep_unread, validate_leniently
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


def test_unread_fields_survive_copies_and_count_in_equality() -> None:
    """As on a pydantic model, whose private state is copied, pickled and compared."""
    specs = ServerSpecs(ram=64.0)
    keep_unread(specs, "gpuram", "x")
    assert specs.unread_fields == {"gpuram": "x"} and ServerSpecs(ram=64.0).unread_fields == {}
    assert specs != ServerSpecs(ram=64.0)
    copies = [
        copy.copy(specs),
        copy.deepcopy(specs),
        pickle.loads(pickle.dumps(specs)),
        specs.model_copy(),
        specs.model_copy(deep=True),
    ]
    assert all(one == specs and one.unread_fields == {"gpuram": "x"} for one in copies)
    server = MarketplaceServer.model_validate({"id": 1, "specs": {"ram": "lots", "cpu": "EPYC"}})
    assert server.specs is not None and server.specs.unread_fields == {"ram": "lots"}
    for one in (copy.deepcopy(server), pickle.loads(pickle.dumps(server)), server.model_copy(deep=True)):
        assert one.specs is not None and one.specs.unread_fields == {"ram": "lots"} and one == server


def test_a_free_form_field_deeper_than_the_fast_reader_goes_is_read_the_pydantic_way() -> None:
    shallow, deep = [[[[1]]]], [[[[[[[[1]]]]]]]]  # JSON_DEPTH is 4
    assert decode_one(ServerSpecs, json.dumps({"pl": shallow}).encode()) == ServerSpecs(pl=shallow)
    assert decode_one(ServerSpecs, json.dumps({"pl": deep}).encode()) is NotImplemented
    assert ServerSpecs.model_validate({"pl": deep}).pl == deep
    assert ServerSpecs.model_fields["pl"].annotation == Optional[List[Any]]


def test_the_pydantic_surface_a_script_uses() -> None:
    specs = ServerSpecs.model_validate({"ram": 64, "gpu": "1x A", "net": {"cc": "DE"}}, strict=False)
    assert dict(specs)["ram"] == 64.0 and str(specs).startswith("mb=None cpu=None")
    assert specs.model_fields_set == {"ram", "gpu", "net"} and specs.model_extra is None
    assert specs.model_dump(exclude_defaults=True) == {"ram": 64.0, "gpu": "1x A", "net": {"cc": "DE"}}
    server = MarketplaceServer.model_validate({"id": 1, "specs": {"ram": 64, "net": {"cc": "DE"}}})
    assert server.model_dump(exclude_unset=True) == {"id": 1, "specs": {"ram": 64.0, "net": {"cc": "DE"}}}
    assert "ServerSpecs" in ServerSpecs.model_json_schema()["title"]


def _odd_object(chance: random.Random, model: Type[NestedModel]) -> Any:
    """A wire value for a nested field: mostly objects with odd leaves, sometimes not an object."""
    if chance.random() < 0.05:
        return chance.choice([None, "five stars", 5, [1, 2], True])
    value: Dict[str, Any] = {}
    names = list(model.__struct_fields__)
    for name in chance.sample(names, chance.randint(0, len(names))):
        if name in ("net", "usd"):
            value[name] = _odd_object(chance, NetSpecs if name == "net" else UsdPrice)
        elif name in ("on_demand", "spot") and chance.random() < 0.7:
            value[name] = {
                "bitcoin": chance.choice(ODD_LEAVES),
                "CLORE-Blockchain": chance.choice(ODD_LEAVES),
            }
        else:
            value[name] = chance.choice(ODD_LEAVES) if chance.random() < 0.3 else _plain(model, name, chance)
    return value


def _plain(model: Type[NestedModel], name: str, chance: random.Random) -> Any:
    """A value of the field's own type (most of a real answer)."""
    annotation = str(model.model_fields[name].annotation)  # type: ignore[attr-defined]
    if "float" in annotation:
        return chance.choice([1.5, 11, 0.17])
    if "int" in annotation:
        return chance.choice([4, 16, 2**40])
    if "str" in annotation:
        return chance.choice(["1x RTX 4090", "DE", "16/32"])
    return chance.choice([[450], [250, 300], {"bitcoin": 1}])


@pytest.mark.parametrize("reading", ["fast", "general"])
def test_a_listing_of_odd_nested_objects_reads_as_pydantic_reads_each(
    reading: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the batches of a real listing (msgspec slices, then item by item where a
    slice is refused): every nested object, and what is set aside, is what reading it alone
    with pydantic gives."""
    chance = random.Random(16)
    servers: List[Dict[str, Any]] = [{"id": index} for index in range(900)]
    for index, server in enumerate(servers):
        for name, model in NESTED.items():
            if index < 300:  # whole slices the fast reader takes
                server[name] = _plain_object(model)
            elif index < 600:  # numbers as text: only pydantic's lax rules read some of them
                server[name] = {key: _as_text(value, chance) for key, value in _plain_object(model).items()}
            elif chance.random() < 0.95:
                server[name] = _odd_object(chance, model) if chance.random() < 0.4 else _plain_object(model)
    if reading == "general":
        monkeypatch.setattr(core, "listing_decoder", lambda *args, **kwargs: None)
    _, read = core.envelope_parser("servers", MarketplaceServer, many=True)(
        json.dumps({"code": 0, "servers": servers}).encode()
    )
    assert [server.id for server in read] == list(range(900))
    for wire, server in zip(servers, read):
        for name, model in NESTED.items():
            value, got = wire.get(name), getattr(server, name)
            if isinstance(value, dict):
                expected = validate_leniently(model, value)
                assert _typed(got) == _typed(expected) and got.unread_fields == expected.unread_fields, value
            else:
                assert got is None
                assert (
                    server.unread_fields.get(name) == value
                    if value is not None
                    else name not in server.unread_fields
                )


def _plain_object(model: Type[NestedModel]) -> Dict[str, Any]:
    chance = random.Random(model.__name__)
    return {
        name: _plain(model, name, chance) if name not in ("net", "usd") else {"cc": "DE", "spot": 0.17}
        for name in model.__struct_fields__
    }


def _as_text(value: Any, chance: random.Random) -> Any:
    if isinstance(value, (int, float)) and chance.random() < 0.3:
        return chance.choice([str(value), "1e3"])
    return value


def test_a_value_set_while_the_batch_is_read_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another thread may set ``server.specs`` while a slice is being read: the batch must
    not overwrite it with what it read from the wire."""
    import clore_ai._lazy as lazy
    from clore_ai.sandbox import Sandbox, SandboxTransport

    with CloreAI(api_key="k", transport=SandboxTransport(Sandbox(servers=700))) as client:
        servers = client.marketplace(available_only=False)
    calls: List[int] = []
    read_slice = lazy.decode_many

    def meanwhile(model: Any, text: bytes) -> Any:
        calls.append(1)
        if len(calls) == 2:
            servers[400].specs = ServerSpecs(gpu="set meanwhile")
        return read_slice(model, text)

    monkeypatch.setattr(lazy, "decode_many", meanwhile)
    assert all(server.specs is not None for server in servers) and len(calls) > 2
    assert servers[400].specs is not None and servers[400].specs.gpu == "set meanwhile"
