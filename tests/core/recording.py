"""A MockTransport that records every request and answers from a script."""

from __future__ import annotations

import json
from typing import Any, Callable, Union

import httpx

from clore_ai import AsyncCloreAI, CloreAI, RateLimiter

Answer = Union[httpx.Response, dict, Exception, Callable[[httpx.Request], httpx.Response]]


class Recorder:
    def __init__(self, *answers: Answer, default: Answer | None = None) -> None:
        self.answers = list(answers)
        self.default = default if default is not None else {"code": 0}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else self.default
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)

    def endpoints(self) -> list[str]:
        return [r.url.path.rsplit("/", 1)[-1] for r in self.requests]


def sync_client(recorder: Recorder, **options: Any) -> CloreAI:
    options.setdefault("api_key", "sk-wire-test-1234")
    options.setdefault("limiter", RateLimiter(interval=0, order_interval=0))
    options.setdefault("sleep", lambda seconds: None)
    return CloreAI(transport=httpx.MockTransport(recorder), **options)


def async_client(recorder: Recorder, **options: Any) -> AsyncCloreAI:
    async def no_sleep(seconds: float) -> None:
        return None

    options.setdefault("api_key", "sk-wire-test-1234")
    options.setdefault("limiter", RateLimiter(interval=0, order_interval=0))
    options.setdefault("sleep", no_sleep)
    return AsyncCloreAI(transport=httpx.MockTransport(recorder), **options)
