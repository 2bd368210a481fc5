"""The marketplace's fast reading (nested objects kept as JSON text, ``_rawjson``) gives
exactly what the general reading gives, and hands every surprise over to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import httpx
import pytest

import clore_ai._core as core
from clore_ai._endpoints import _plainly_rented
from clore_ai._lazy import BATCH_AFTER
from clore_ai._rawjson import RAW, listing_decoder
from clore_ai.models import MarketplaceServer, ServerSpecs
from clore_ai.sandbox import Sandbox, SandboxTransport

COUNT = BATCH_AFTER * 4
LAZY = ("specs", "price", "rating")


def _servers(count: int = COUNT) -> List[Dict[str, Any]]:
    with httpx.Client(transport=SandboxTransport(Sandbox(servers=count))) as client:
        servers: List[Dict[str, Any]] = client.get("http://sandbox.test/v1/marketplace").json()["servers"]
    return servers[:count]


def _body(servers: Any, **envelope: Any) -> bytes:
    return json.dumps({"code": 0, "servers": servers, **envelope}).encode()


def _parsers(
    monkeypatch: pytest.MonkeyPatch, skip: Any = None
) -> Tuple[Callable[..., Any], Callable[..., Any]]:
    """(the parser as shipped, the same parser with the fast reading turned off)."""
    fast = core.envelope_parser("servers", MarketplaceServer, many=True, skip=skip)
    general = core.envelope_parser("servers", MarketplaceServer, many=True, skip=skip)
    with monkeypatch.context() as patched:
        patched.setattr(core, "listing_decoder", lambda *args, **kwargs: None)
        general(b'{"code": 0, "servers": []}')  # builds (and remembers) no fast decoder
    return fast, general


def _seen(servers: List[MarketplaceServer], order: List[str]) -> List[Dict[str, Any]]:
    """What a caller sees of each server, its nested objects read field by field in ``order``."""
    for name in order:
        for server in servers:
            getattr(server, name)
    return [
        {
            "dump": server.model_dump(),
            "unread": server.unread_fields,
            "extra": server.model_extra,
            "types": [type(getattr(server, name)).__name__ for name in LAZY],
        }
        for server in servers
    ]


ODD_NESTED: Dict[int, Dict[str, Any]] = {
    3: {"specs": {"ram": "lots", "gpu": "1x RTX 4090", "net": {"cc": 7}}},
    5: {"rating": "five stars"},
    8: {"price": None},
    13: {"specs": [1, 2]},
    21: {"price": {"on_demand": {"bitcoin": "cheap"}, "usd": {"spot": "x"}}},
    34: {"rating": {"avg": 4.5, "cnt": "many", "new": True}},
    55: {"specs": 5},
    89: {"price": {"on_demand": {"CLORE-Blockchain": 1e300, "bitcoin": 10**30}}},
}


@pytest.mark.parametrize("order", [["specs", "price", "rating"], ["rating", "specs", "price"]])
def test_the_fast_reading_gives_what_the_general_reading_gives(
    monkeypatch: pytest.MonkeyPatch, order: List[str]
) -> None:
    servers = _servers()
    for index, fields in ODD_NESTED.items():
        servers[index].update(fields)
    for index in (2, 40):
        del servers[index]["rating"]  # an absent nested object reads None, as before
    body = _body(servers)
    fast, general = _parsers(monkeypatch)
    code, read_fast = fast(body)
    assert code == 0 and type(read_fast[0].__dict__["specs"]) is RAW  # the fast reading was taken
    assert _seen(read_fast, order) == _seen(general(body)[1], order)
    assert read_fast[3].specs is not None and read_fast[3].specs.ram is None
    assert read_fast[5].unread_fields == {"rating": "five stars"} and read_fast[5].rating is None


def test_a_server_read_alone_before_the_batch_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    servers = _servers()
    servers[1]["specs"] = "odd"
    body = _body(servers)
    fast, general = _parsers(monkeypatch)
    lone, everyone = fast(body)[1], general(body)[1]
    assert lone[1].specs is None and lone[1].unread_fields == {"specs": "odd"}
    assert lone[0].specs == ServerSpecs.model_validate(servers[0]["specs"])  # one lone read
    assert _seen(lone, list(LAZY)) == _seen(everyone, list(LAZY))


def test_nested_objects_stay_json_text_until_read() -> None:
    _, servers = core.envelope_parser("servers", MarketplaceServer, many=True)(_body(_servers(8)))
    assert all(type(server.__dict__[name]) is RAW for server in servers for name in LAZY)
    assert type(servers[0].specs) is ServerSpecs
    assert type(servers[1].__dict__["specs"]) is RAW  # reading one server's reads no other


@pytest.mark.parametrize(
    "change",
    [
        {"brand_new_field": {"launched": 2027}},  # a key the model does not declare
        {"rented": "maybe"},  # a top-level value of an odd shape
        {"id": "x"},  # an item no reading can keep
    ],
)
def test_every_surprise_goes_the_general_way(monkeypatch: pytest.MonkeyPatch, change: Dict[str, Any]) -> None:
    servers = _servers()
    servers[7].update(change)
    body = _body(servers)
    fast, general = _parsers(monkeypatch)
    read = fast(body)[1]
    assert _seen(read, list(LAZY)) == _seen(general(body)[1], list(LAZY))
    if "brand_new_field" in change:
        assert read[7].model_extra == {"brand_new_field": {"launched": 2027}}  # nothing dropped
    if "id" in change:
        assert len(read) == COUNT - 1
    else:
        assert len(read) == COUNT


@pytest.mark.parametrize(
    "body",
    [
        b'{"code": 0}',
        b'{"code": 0, "servers": null}',
        b'{"code": 0, "servers": {}}',
        b'{"code": "0", "servers": []}',
        b'{"code": 5, "error": "rate limited"}',
        b'{"servers": []}',
        b'{"code": 0, "servers": [1, {"id": 2}]}',
        b'{"code": 0, "servers": [{"id": 3, "specs": NaN}]}',
        b'{"code": 0, "servers": [{"id": 123456789012345678901234567890}]}',
        b"[]",
        b"not json",
        b'{"code": 0, "servers": [{"id": 4, "specs": {"gpu": "\xff"}}]}',  # not UTF-8, inside specs
        b'{"code": 0, "servers": [{"id": 5, "specs": {"gpu": "\xc3\xa9"}}]}',  # UTF-8, not ASCII
    ],
)
def test_odd_envelopes_read_as_before(monkeypatch: pytest.MonkeyPatch, body: bytes) -> None:
    fast, general = _parsers(monkeypatch)

    def outcome(parse: Callable[..., Any]) -> Any:
        try:
            code, value = parse(body)
        except (ValueError, TypeError) as error:
            return type(error).__name__
        return code, None if value is None else [server.model_dump() for server in value]

    assert outcome(fast) == outcome(general)


def test_available_only_drops_rented_servers_on_the_fast_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    servers = _servers()
    body = _body(servers)
    fast, general = _parsers(monkeypatch, skip=_plainly_rented)
    kept = fast(body)[1]
    assert [s.id for s in kept] == [s["id"] for s in servers if s.get("rented") is not True]
    assert len(kept) < len(servers) and not any(s.rented for s in kept)
    assert _seen(kept, list(LAZY)) == _seen(general(body)[1], list(LAZY))


def test_a_nested_object_too_deep_to_parse_costs_only_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """The general reading rejects a body pydantic-core cannot parse; the fast one never
    parsed that object, so it reads None there (dumping the listing still works), and every
    other server reads as usual. Deep under a key the model ignores, it costs nothing."""
    servers = _servers()
    too_deep = [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]
    servers[40]["specs"] = {"gpu": "1x RTX 4090", "pl": too_deep}
    servers[100]["specs"] = {"gpu": "1x RTX 3090", "deep": too_deep}
    body = _body(servers).replace(b"[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]", b"[" * 300 + b"]" * 300)
    fast, general = _parsers(monkeypatch)
    with pytest.raises(ValueError, match="recursion limit"):
        general(body)
    _, read = fast(body)
    specs = [server.specs for server in read]  # a batch: the deep one's slice is read item by item
    assert specs[40] is None and read[40].unread_fields["specs"].startswith('{"gpu": "1x RTX 4090"')
    assert specs[100] is not None and specs[100].gpu == "1x RTX 3090" and specs[100].pl is None
    assert all(spec is not None for index, spec in enumerate(specs) if index != 40)
    assert specs[41] == ServerSpecs.model_validate(servers[41]["specs"])
    assert json.loads(read[40].model_dump_json())["specs"] is None


def test_a_model_that_sees_raw_items_never_takes_the_fast_reading() -> None:
    from pydantic import model_validator

    class Lifted(MarketplaceServer):
        @model_validator(mode="before")
        @classmethod
        def _lift(cls, data: Any) -> Any:
            return data  # would be handed a struct, not the object it expects

    assert listing_decoder("servers", Lifted) is None
    assert listing_decoder("servers", MarketplaceServer) is not None


SAMPLES_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "real-samples"
MARKETPLACE_SAMPLES = sorted(SAMPLES_DIR.glob("marketplace__*.json")) if SAMPLES_DIR.is_dir() else []


@pytest.mark.skipif(not MARKETPLACE_SAMPLES, reason=f"no real samples at {SAMPLES_DIR}")
@pytest.mark.parametrize("sample", MARKETPLACE_SAMPLES, ids=lambda path: path.stem)
def test_recorded_live_answers_take_the_fast_reading_and_read_as_before(
    monkeypatch: pytest.MonkeyPatch, sample: Path
) -> None:
    """The live API's recorded marketplace answers (the truth, where our sandbox is a
    picture) declare no key the model lacks, so they take the fast reading, and it reads
    them exactly as the general one does."""
    body = json.dumps(json.loads(sample.read_text(encoding="utf-8"))["body"]).encode()
    fast, general = _parsers(monkeypatch)
    code, read = fast(body)
    assert code == 0 and read and all(type(server.__dict__["specs"]) is RAW for server in read)
    assert _seen(read, list(LAZY)) == _seen(general(body)[1], list(LAZY))
