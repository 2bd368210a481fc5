"""``python -m clore_ai.sandbox``: serve the sandbox API on the loopback, or show a demo."""

from __future__ import annotations

import argparse
import math
import re
import sys

from ._api import RateLimits, Sandbox
from ._market import MarketMotion, market_from_text, speed_from_text
from ._server import SandboxServer


def _market(text: str) -> MarketMotion | None:
    try:
        return market_from_text(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _speed(text: str) -> float:
    try:
        return speed_from_text(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole(text: str) -> int:
    """A whole number in ASCII digits (``int("١")`` is 1; a port or seed typed so is a slip)."""
    if not re.fullmatch(r"-?[0-9]{1,18}", text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def _port(text: str) -> int:
    port = _whole(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {text!r} must be 0 to 65535 (0 picks a free one)")
    return port


def _scale(text: str) -> float:
    try:
        scale = float(text) if text.isascii() else math.nan
    except ValueError:
        scale = math.nan
    if not (math.isfinite(scale) and scale > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0")
    return scale


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clore_ai.sandbox",
        description="Run an offline Clore.ai API on the loopback (any API key works).",
    )
    parser.add_argument("command", nargs="?", choices=["serve", "demo"], default="serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--servers", type=_whole, default=300, help="marketplace size (default 300)")
    parser.add_argument("--seed", type=_whole, default=0, help="marketplace seed (default 0)")
    parser.add_argument("--no-rate-limit", action="store_true", help="do not enforce 1 request/s")
    parser.add_argument(
        "--rate-scale", type=_scale, default=1.0, help="multiply the rate-limit intervals (tests)"
    )
    parser.add_argument("--state-file", help="persist accounts in this file")
    parser.add_argument(
        "--market",
        type=_market,
        help="still (default), moving or moving:SEED: other renters, drifting prices, competing spot bids",
    )
    parser.add_argument(
        "--speed", type=_speed, help="sandbox seconds per real second (e.g. 60: an hour of market per minute)"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def _demo(sandbox: Sandbox) -> int:
    from .._client import CloreAI
    from ._transport import SandboxTransport

    with CloreAI(api_key="sandbox-demo", transport=SandboxTransport(sandbox)) as client:
        servers = client.marketplace(gpu="RTX 4090", max_price_usd=0.5)
        servers.sort(key=lambda s: s.price_usd or 0)
        print(f"{'ID':>6}  {'GPU':<28} {'$/hour':>8} {'$/day':>8}  CC")
        for s in servers[:10]:
            print(
                f"{s.id:>6}  {s.gpu_model or '?':<28} "
                f"{s.price_usd or 0:>8.4f} {s.price_usd_per_day or 0:>8.2f}  {s.location}"
            )
        print(f"{len(servers)} RTX 4090 servers under $0.50/hour in the sandbox marketplace")
    return 0


def main(argv: list[str] | None = None) -> int:
    import signal

    if hasattr(signal, "SIGPIPE"):  # `... demo | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = _parser().parse_args(argv)
    if not 3 <= args.servers <= 100_000:
        print("error: --servers must be between 3 and 100000", file=sys.stderr)
        return 2
    sandbox = Sandbox(
        servers=args.servers,
        seed=args.seed,
        rate_limits=RateLimits.off() if args.no_rate_limit else RateLimits().scaled(args.rate_scale),
        state_file=args.state_file,
        market=args.market,
        speed=args.speed,
    )
    if args.command == "demo":
        return _demo(sandbox)
    try:
        server = SandboxServer(sandbox, host=args.host, port=args.port, verbose=args.verbose)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    status = sandbox.market_status()
    motion = status["motion"]
    market = f"moving market (seed {motion['seed']})" if motion else "still market"
    print(
        f"clore sandbox API on {server.url} ({args.servers} servers, seed {args.seed}, {market}, "
        f"speed {status['speed']:g}x); Ctrl-C stops",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
