"""clore_ai: the Python SDK for the Clore.ai GPU marketplace.

>>> from clore_ai import CloreAI
>>> client = CloreAI()                      # key from CLORE_API_KEY / keyring / config file
>>> servers = client.marketplace(gpu="RTX 4090", max_price_usd=0.5)   # USD per hour
"""

from . import _httpx  # noqa: F401 - first: httpx without its command-line module
from ._client import AsyncCloreAI, CloreAI
from ._core import DEFAULT_BASE_URL
from ._limiter import RateLimiter
from ._validation import (
    CURRENCIES,
    build_create_order_body,
    build_server_settings_body,
    normalize_currency,
    redacted_order_body,
)
from ._version import __version__
from .exceptions import (
    APICertificateError,
    APIConnectionError,
    APITimeoutError,
    AuthError,
    CloreAPIError,
    CloreError,
    CredentialsError,
    DBError,
    FieldError,
    InvalidEndpointError,
    InvalidInputError,
    InvalidResponseError,
    KeyringUnavailableError,
    MissingAPIKeyError,
    OrderOutcomeUnknown,
    OrderOwnerUnknown,
    OrderPendingError,
    RateLimitError,
    RateLimitQueueTimeout,
    ResponseTooLargeError,
    UnknownAPIError,
)
from .models import (
    HOURS_PER_DAY,
    CancelOrdersResult,
    GigaSpotCreateResult,
    GigaSpotEditResult,
    GigaSpotInfo,
    MarketplaceServer,
    MyServer,
    NetSpecs,
    Order,
    PoHBalance,
    RenterFees,
    ServerConfig,
    ServerPrice,
    ServerRating,
    ServerSpecs,
    SpotMarket,
    SpotOffer,
    SpotServerInfo,
    UsdPrice,
    Wallet,
)
from .renting import NoOfferError, RentResult, arent, plan_rent, rent

#: clore-ai 0.1.1's name for :class:`MarketplaceServer`.
Server = MarketplaceServer

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "APICertificateError",
    "AsyncCloreAI",
    "AuthError",
    "CURRENCIES",
    "CancelOrdersResult",
    "GigaSpotCreateResult",
    "GigaSpotEditResult",
    "GigaSpotInfo",
    "CloreAI",
    "CloreAPIError",
    "CloreError",
    "CredentialsError",
    "KeyringUnavailableError",
    "DBError",
    "DEFAULT_BASE_URL",
    "FieldError",
    "HOURS_PER_DAY",
    "InvalidEndpointError",
    "InvalidInputError",
    "InvalidResponseError",
    "MarketplaceServer",
    "Server",
    "MissingAPIKeyError",
    "MyServer",
    "NetSpecs",
    "Order",
    "OrderOutcomeUnknown",
    "OrderOwnerUnknown",
    "OrderPendingError",
    "PoHBalance",
    "RateLimitError",
    "RateLimitQueueTimeout",
    "RateLimiter",
    "RenterFees",
    "ResponseTooLargeError",
    "ServerConfig",
    "ServerPrice",
    "ServerRating",
    "ServerSpecs",
    "SpotMarket",
    "SpotOffer",
    "SpotServerInfo",
    "UnknownAPIError",
    "UsdPrice",
    "Wallet",
    "__version__",
    "build_create_order_body",
    "build_server_settings_body",
    "normalize_currency",
    "NoOfferError",
    "RentResult",
    "arent",
    "plan_rent",
    "rent",
    "redacted_order_body",
]
