"""Every API endpoint, declared once for both clients.

Each method below builds a *flow* (see ``_core``). The :class:`endpoint` descriptor turns
it into a plain method on :class:`CloreAI` and a coroutine method on
:class:`AsyncCloreAI`, and tells type checkers so.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Dict, Generic, List, Mapping, TypeVar, overload

from typing_extensions import Concatenate, ParamSpec

from ._core import ClientCore, Flow, dict_body, envelope_parser
from ._validation import (
    MAX_ID,
    build_create_order_body,
    build_gigaspot_create_body,
    build_gigaspot_edit_body,
    build_server_settings_body,
    check_flag,
    check_issue,
    check_number,
    check_positive_int,
    check_price,
    shown,
)
from .exceptions import CloreAPIError, FieldError, InvalidInputError, RateLimitError
from .models import (
    CancelOrdersResult,
    GigaSpotCreateResult,
    GigaSpotEditResult,
    GigaSpotInfo,
    MarketplaceServer,
    MyServer,
    Order,
    PoHBalance,
    RenterFees,
    ServerConfig,
    SpotMarket,
    Wallet,
)

if TYPE_CHECKING:
    from ._client import AsyncCloreAI, CloreAI

__all__ = ["Endpoints", "endpoint", "filter_marketplace"]

log = logging.getLogger("clore_ai")
P = ParamSpec("P")
R = TypeVar("R")

_WALLETS = envelope_parser("wallets", Wallet, many=True)
_MARKETPLACE = envelope_parser("servers", MarketplaceServer, many=True)


def _plainly_rented(item: Any) -> bool:
    """A raw server that ``available_only`` drops and that reads whatever else it holds (its
    ``id`` is a whole number): no model is built for it. Odder ones go the usual way.

    ``item`` is a parsed object, or the struct of ``_rawjson`` (whose fields are all there)."""
    if type(item) is dict:
        return item.get("rented") is True and type(item.get("id")) is int
    return getattr(item, "rented", None) is True and type(getattr(item, "id", None)) is int


_MARKETPLACE_AVAILABLE = envelope_parser("servers", MarketplaceServer, many=True, skip=_plainly_rented)
_MY_SERVERS = envelope_parser("servers", MyServer, many=True)
_ORDERS = envelope_parser("orders", Order, many=True)
_SERVER_CONFIG = envelope_parser(None, ServerConfig)
_SPOT_MARKET = envelope_parser(None, SpotMarket)
_POH = envelope_parser(None, PoHBalance)
_FEES = envelope_parser(None, RenterFees)
_CANCEL_MANY = envelope_parser(None, CancelOrdersResult)
_GIGASPOT = envelope_parser(None, GigaSpotInfo)
_GIGASPOT_CREATE = envelope_parser(None, GigaSpotCreateResult)
_GIGASPOT_EDIT = envelope_parser(None, GigaSpotEditResult)


class endpoint(Generic[P, R]):
    """A flow-building function, declared once; each client class gets it as a real method.

    :class:`Endpoints` subclasses replace every endpoint with a plain function (an ``async
    def`` on :class:`AsyncCloreAI`): ``CloreAI.wallets(client)``, ``inspect.signature``,
    ``typing.get_type_hints``, ``help()`` and ``mock.create_autospec`` all see the method as
    called — its parameters and its result (``List[Wallet]``), never the internal flow. The
    overloads below tell type checkers the same.
    """

    def __init__(self, build: Callable[Concatenate[Any, P], Flow[R]]) -> None:
        self._build = build
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__
        self.__wrapped__ = build

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> endpoint[P, R]: ...

    @overload
    def __get__(self, instance: CloreAI, owner: type[Any]) -> Callable[P, R]: ...

    @overload
    def __get__(self, instance: AsyncCloreAI, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, R]]: ...

    def __get__(self, instance: Any, owner: type[Any]) -> Any:
        if instance is None:
            return self
        raise TypeError(f"{type(instance).__name__} is not a client class")  # see Endpoints


def client_method(build: Callable[..., Flow[Any]], *, asynchronous: bool) -> Callable[..., Any]:
    """``build`` as a method of a client class: the flow it builds, driven by the client.

    The caller's arguments (passwords, tokens) are deleted before the flow is driven, so
    they are not in this frame's locals when an error's traceback is recorded.
    """
    if asynchronous:

        async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            flow = start_flow(build, self, args, kwargs)
            del args, kwargs
            return await self._drive(flow)

    else:

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            flow = start_flow(build, self, args, kwargs)
            del args, kwargs
            return self._drive(flow)

    on_class, hints = _public_face(build)
    method.__signature__ = on_class  # type: ignore[attr-defined]
    method.__annotations__ = dict(hints)
    method.__name__ = build.__name__
    method.__doc__ = build.__doc__
    method.__module__ = "clore_ai"
    method._clore_async = asynchronous  # type: ignore[attr-defined]
    return method


def _result_type(returns: Any) -> Any:
    """``Flow[List[Wallet]]`` → ``List[Wallet]`` (as text when the annotation is text)."""
    if isinstance(returns, str):
        return returns[5:-1] if returns.startswith("Flow[") and returns.endswith("]") else returns
    arguments = getattr(returns, "__args__", None)
    return arguments[-1] if arguments and getattr(returns, "__origin__", None) is not None else returns


@functools.cache  # one per endpoint, shared by the client classes
def _public_face(build: Callable[..., Any]) -> tuple[inspect.Signature, Dict[str, Any]]:
    """The method's signature and annotations, with the flow's result as the return type:
    resolved types where Python can evaluate them (not ``X | None`` on 3.9), else text."""
    hints: Dict[str, Any] = {}
    for name, text in build.__annotations__.items():
        try:
            hints[name] = eval(text, build.__globals__) if isinstance(text, str) else text
        except Exception:  # noqa: BLE001 - the text is still right, only unresolved (3.9: X | None)
            hints[name] = text
    hints["return"] = _result_type(hints.get("return", inspect.Signature.empty))
    signature = inspect.signature(build)
    parameters = [
        parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
        for parameter in signature.parameters.values()
    ]
    return signature.replace(parameters=parameters, return_annotation=hints["return"]), hints


def start_flow(build: Callable[..., Flow[R]], client: Any, args: Any, kwargs: Any) -> Flow[R]:
    """``build(client, *args, **kwargs)``; a local validation error is raised by the flow.

    Validation runs while the arguments (``ssh_password``, tokens, env values) are locals of
    the frames below, and error trackers record frame locals. So the error drops that
    traceback and is raised again when the flow is driven, after the client's method has
    deleted its own copy of the arguments. The one-line message says everything.
    """
    try:
        return build(client, *args, **kwargs)
    except InvalidInputError as error:
        return _raise(error.with_traceback(None))


def _raise(error: BaseException) -> Flow[Any]:
    raise error
    yield  # a generator, so that the error leaves from the driver


def filter_marketplace(
    servers: list[MarketplaceServer],
    *,
    gpu: str | None = None,
    min_gpu_count: int | None = None,
    min_ram_gb: float | None = None,
    max_price_usd: float | None = None,
    available_only: bool = True,
) -> list[MarketplaceServer]:
    """The client-side filters of ``marketplace()``; ``max_price_usd`` is USD per hour."""
    needle = gpu.strip().lower() if gpu else None
    kept = []
    for server in servers:
        if available_only and server.rented:
            continue
        if needle is not None:
            names = [server.specs.gpu if server.specs and server.specs.gpu else "", *server.gpu_names]
            if not any(needle in name.lower() for name in names):
                continue
        if min_gpu_count is not None and server.gpu_count < min_gpu_count:
            continue
        if min_ram_gb is not None and (server.ram_gb or 0.0) < min_ram_gb:
            continue
        if max_price_usd is not None:
            price = server.price_usd
            if price is None or price > max_price_usd:
                continue
        kept.append(server)
    return kept


def _optional_number(name: str, value: Any) -> float | None:
    return None if value is None else check_number(name, value, minimum=0.0, maximum=float(MAX_ID))


class Endpoints:
    """The API surface shared by :class:`CloreAI` and :class:`AsyncCloreAI`.

    A subclass gets every endpoint as a method that drives the endpoint's flow with its own
    ``_drive``: a coroutine method when the class sets ``_is_async``.
    """

    _core: ClientCore
    _is_async = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not hasattr(cls, "_drive"):  # not a client yet (the clients' shared base)
            return
        for name, value in vars(Endpoints).items():
            if not isinstance(value, endpoint):
                continue
            inherited = next(vars(k)[name] for k in cls.__mro__ if name in vars(k))
            # A method a subclass wrote, or one of the right kind it inherits, stays (so a
            # patch of CloreAI.wallets reaches its subclasses too).
            if inherited is value or getattr(inherited, "_clore_async", cls._is_async) != cls._is_async:
                method = client_method(value._build, asynchronous=cls._is_async)
                method.__qualname__ = f"{cls.__name__}.{name}"
                setattr(cls, name, method)

    def _orders_flow(self, include_completed: bool = False) -> Flow[List[Order]]:
        params = {"return_completed": "true" if include_completed else "false"}
        return self._core.call("my_orders", _ORDERS, params=params)

    @endpoint
    def wallets(self) -> Flow[List[Wallet]]:
        """Wallet balances and deposit addresses, one per currency."""
        return self._core.call("wallets", _WALLETS)

    @endpoint
    def marketplace(
        self,
        gpu: str | None = None,
        min_gpu_count: int | None = None,
        min_ram_gb: float | None = None,
        max_price_usd: float | None = None,
        available_only: bool = True,
    ) -> Flow[List[MarketplaceServer]]:
        """Servers on the marketplace, filtered client-side.

        ``gpu`` is a case-insensitive substring of the GPU description or names;
        ``max_price_usd`` is the highest on-demand price in USD **per hour**.
        """
        if gpu is not None and not isinstance(gpu, str):
            raise InvalidInputError(f"gpu must be text, got {shown(gpu)}", code=2)
        if min_gpu_count is not None and (
            isinstance(min_gpu_count, bool)
            or not isinstance(min_gpu_count, int)
            or not 0 <= min_gpu_count <= 1024
        ):
            raise InvalidInputError(
                f"min_gpu_count must be a whole number from 0 to 1024, got {shown(min_gpu_count)}", code=2
            )
        available_only = check_flag("available_only", available_only)
        min_ram_gb = _optional_number("min_ram_gb", min_ram_gb)
        max_price_usd = _optional_number("max_price_usd", max_price_usd)
        parser = _MARKETPLACE_AVAILABLE if available_only else _MARKETPLACE
        servers = yield from self._core.call("marketplace", parser, auth=False)
        return filter_marketplace(
            servers,
            gpu=gpu,
            min_gpu_count=min_gpu_count,
            min_ram_gb=min_ram_gb,
            max_price_usd=max_price_usd,
            available_only=available_only,
        )

    @endpoint
    def my_servers(self) -> Flow[List[MyServer]]:
        """Servers you host on the marketplace."""
        return self._core.call("my_servers", _MY_SERVERS)

    @endpoint
    def server_config(self, server_name: str) -> Flow[ServerConfig]:
        """Configuration of one of your hosted servers, by name (a GET with a JSON body)."""
        if not isinstance(server_name, str) or not server_name.strip():
            raise InvalidInputError("server_name must be the non-empty name of a server you host", code=2)
        return self._core.call("server_config", _SERVER_CONFIG, json_body={"server_name": server_name})

    @endpoint
    def my_orders(self, include_completed: bool = False) -> Flow[List[Order]]:
        """Your orders; with ``include_completed`` also finished ones (``expired``)."""
        return self._orders_flow(check_flag("include_completed", include_completed))

    @endpoint
    def spot_marketplace(self, server_id: int) -> Flow[SpotMarket]:
        """The spot order book of one server. Bids are per day in each offer's currency."""
        market_id = check_positive_int("server_id", server_id)
        market: SpotMarket = yield from self._core.call(
            "spot_marketplace", _SPOT_MARKET, params={"market": market_id}
        )
        for offer in market.offers or []:
            offer.server_id = market_id
        return market

    @endpoint
    def create_order(
        self,
        server_id: int,
        image: str,
        type: str,
        currency: str,
        ssh_password: str | None = None,
        ssh_key: str | None = None,
        ports: Dict[str, str] | None = None,
        env: Dict[str, str] | None = None,
        jupyter_token: str | None = None,
        command: str | None = None,
        spot_price: float | None = None,
        required_price: float | None = None,
        autossh_entrypoint: bool | str | None = None,
    ) -> Flow[Order]:
        """Rent a server and return the new order.

        The request is sent once. The API answers only ``{"code": 0}``, so the order is
        found in ``my_orders``; after a failure that may have happened after sending, the
        SDK looks for the order instead of re-sending and raises
        :class:`~clore_ai.exceptions.OrderOutcomeUnknown` if it cannot tell.
        ``spot_price`` and ``required_price`` are per day in ``currency``.
        """
        # Not a generator: this frame, which holds the passwords, ends before anything is
        # sent, so no traceback of a failed order carries them (the body's repr is redacted).
        body = build_create_order_body(
            server_id=server_id,
            image=image,
            type=type,
            currency=currency,
            ssh_password=ssh_password,
            ssh_key=ssh_key,
            ports=ports,
            env=env,
            jupyter_token=jupyter_token,
            command=command,
            spot_price=spot_price,
            required_price=required_price,
            autossh_entrypoint=autossh_entrypoint,
        )
        return self._core.create_order(body, list_orders=self._orders_flow)

    @endpoint
    def cancel_order(self, order_id: int, issue: str | None = None) -> Flow[Dict[str, Any]]:
        """Cancel an order, optionally reporting an issue with the server (≤ 2048 chars).

        Idempotent: cancelling an order that has already ended returns
        ``{"code": 0, "already_ended": True}`` instead of raising, so a retried cancel is
        safe. An issue report cannot be attached to an order that has already ended; then
        the result says ``"issue_reported": False``, or ``None`` when an earlier attempt of
        this call may have cancelled the order with its report (its answer was lost).
        """
        body: dict[str, Any] = {"id": check_positive_int("order_id", order_id)}
        text = check_issue(issue)
        if text is not None:
            body["issue"] = text
        retried: list[CloreAPIError] = []
        try:
            return (
                yield from self._core.call(
                    "cancel_order", dict_body, method="POST", json_body=body, retried=retried
                )
            )
        except FieldError as error:
            if error.error != "order_not_active":
                raise
        result: dict[str, Any] = {"code": 0, "already_ended": True}
        if text is not None and any(not isinstance(lost, RateLimitError) for lost in retried):
            log.warning(
                "order %s has ended; an earlier attempt whose answer was lost may have cancelled it "
                "and delivered the issue report",
                body["id"],
            )
            result["issue_reported"] = None
        elif text is not None:
            log.warning("order %s had already ended; the issue report was not delivered", body["id"])
            result["issue_reported"] = False
        return result

    @endpoint
    def cancel_orders(self, order_ids: List[int]) -> Flow[CancelOrdersResult]:
        """Cancel several orders in one request; the result lists the ones that failed."""
        if not isinstance(order_ids, (list, tuple, set, frozenset, range)) or not order_ids:
            raise InvalidInputError("order_ids must be a non-empty list of order ids", code=2)
        ids = [check_positive_int("order_id", value) for value in order_ids]
        return self._core.call("cancel_orders", _CANCEL_MANY, method="POST", json_body={"order_ids": ids})

    @endpoint
    def set_server_settings(
        self,
        name: str,
        availability: bool | None = None,
        mrl: int | None = None,
        on_demand: float | Mapping[str, float] | None = None,
        spot: float | Mapping[str, float] | None = None,
        *,
        enabled: Mapping[str, bool] | None = None,
        autoprice: bool | None = None,
        usd_pricing: Mapping[str, float] | None = None,
    ) -> Flow[Dict[str, Any]]:
        """Host side: availability, maximum rental length (hours) and prices **per day**.

        Only the given settings are sent (zero values are sent, not dropped).
        ``on_demand``/``spot`` as a number send the legacy fields ``on_demand``/``spot``
        (the API applies them to the bitcoin price); as a mapping of currency → price per day
        in that currency (``{"bitcoin": 0.0001, "clore": 1663}``) they send the per-currency
        fields current clients send (``bitcoin_on_demand``, ``CLORE-Blockchain_spot``, …).
        ``enabled`` (currency → bool) sends ``enabled-<currency>``; ``autoprice`` turns the
        host's USD autopricing on or off; ``usd_pricing`` is ``{"on_demand": usd, "spot": usd}``
        per day. Every value is checked before anything is sent.
        """
        body = build_server_settings_body(
            name=name,
            availability=availability,
            mrl=mrl,
            on_demand=on_demand,
            spot=spot,
            enabled=enabled,
            autoprice=autoprice,
            usd_pricing=usd_pricing,
        )
        return self._core.call("set_server_settings", dict_body, method="POST", json_body=body)

    @endpoint
    def set_spot_price(self, order_id: int, price: float) -> Flow[Dict[str, Any]]:
        """Change the bid of your spot order (per day, in the order's currency).

        Lowering is allowed once per 600 s and by at most ``max_step``; the API answers
        with a :class:`~clore_ai.exceptions.FieldError` carrying those values otherwise.
        """
        body = {
            "order_id": check_positive_int("order_id", order_id),
            "desired_price": check_price("price", price),
        }
        return self._core.call("set_spot_price", dict_body, method="POST", json_body=body)

    @endpoint
    def get_gigaspot(self) -> Flow[GigaSpotInfo]:
        """GigaSPOT: your user id, the URL of the current snapshot of the GigaSPOT book and
        the CLORE price in USD."""
        return self._core.call("get_gigaspot", _GIGASPOT)

    @endpoint
    def create_gigaspot_orders(self, orders: List[Mapping[str, Any]]) -> Flow[GigaSpotCreateResult]:
        """Bid on GigaSPOT servers; spends money. Each order is
        ``{"renting_server": id, "currency": "CLORE-Blockchain", "image": ccr_image_id,
        "price": per_day_in_currency, "oc": [{"pl": watts}, …one per GPU], "env": {…}}``.

        ``price`` is 0.0001–5000 per day. Sent once, never retried: the result names the
        servers that were not rented (``failed_to_rent_servers``, ``too_low_bids_servers``).
        """
        body = build_gigaspot_create_body(orders)
        return self._core.call(
            "create_gigaspot_orders", _GIGASPOT_CREATE, method="POST", json_body=body, retry=False
        )

    @endpoint
    def edit_gigaspot_orders(self, orders: List[Mapping[str, Any]]) -> Flow[GigaSpotEditResult]:
        """Change the bid (and overclocking) of GigaSPOT orders: ``[{"order_id": id,
        "price": per_day, "oc": [...]}]``. Sent once, never retried."""
        body = build_gigaspot_edit_body(orders)
        return self._core.call(
            "edit_gigaspot_orders", _GIGASPOT_EDIT, method="POST", json_body=body, retry=False
        )

    @endpoint
    def poh_balance(self) -> Flow[PoHBalance]:
        """Proof-of-Holding entries and balance."""
        return self._core.call("poh_balance", _POH)

    @endpoint
    def renter_fees(self) -> Flow[RenterFees]:
        """Renter fees, PoH discount configuration and creation fees."""
        return self._core.call("renter_fees", _FEES)
