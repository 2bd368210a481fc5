"""What a job is: a task file (YAML) or the same fields from code, checked before anything is rented."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from .._validation import normalize_currency
from ..exceptions import InvalidInputError
from ..query import MarketQuery

__all__ = ["Output", "Resources", "Task", "TaskFileError"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOP_KEYS = ("name", "resources", "image", "workdir", "setup", "run", "outputs", "keep", "env")
_RESOURCE_KEYS = ("query", "max_price", "currency")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class TaskFileError(InvalidInputError):
    """A task file (or task fields) that cannot be run as written; nothing was rented."""


@dataclass(frozen=True)
class Resources:
    """What to rent: a marketplace query (the ``clore search`` language), a price cap in USD
    per hour, and the coin to pay in."""

    query: str = ""
    max_price: float = 0.0  # USD per hour
    currency: str = "USD-Blockchain"


@dataclass(frozen=True)
class Output:
    """A remote path or glob (``*``, ``?``), relative to the job's remote workdir unless
    absolute, downloaded into the local directory ``local``."""

    remote: str
    local: Path = Path(".")


@dataclass(frozen=True)
class Task:
    """One job: rent ``resources``, upload ``workdir``, run ``setup`` then ``run`` on the
    server, download ``outputs``, cancel the order unless ``keep``."""

    run: str
    image: str
    resources: Resources
    name: str = "job"
    workdir: Path | None = None
    setup: str | None = None
    outputs: tuple[Output, ...] = ()
    keep: bool = False
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # values may be tokens

    @classmethod
    def from_file(cls, path: str | Path) -> Task:
        """Read a YAML task file; ``workdir`` is relative to the file's directory."""
        where = Path(path)
        try:
            text = where.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else "not UTF-8 text"
            raise TaskFileError(f"cannot read task file {where}: {reason}", code=2) from None
        return cls.from_yaml(text, base_dir=where.parent, source=str(where), default_name=where.stem)

    @classmethod
    def from_yaml(
        cls, text: str, *, base_dir: str | Path = ".", source: str = "task", default_name: str = "job"
    ) -> Task:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or "not valid YAML"
            raise TaskFileError(f"{source}{line}: {problem}", code=2) from None
        return cls.from_mapping(data, base_dir=base_dir, source=source, default_name=default_name)

    @classmethod
    def from_mapping(
        cls, data: Any, *, base_dir: str | Path = ".", source: str = "task", default_name: str = "job"
    ) -> Task:
        """The task-file fields as a mapping (what ``yaml.safe_load`` gives); every field checked."""
        check = _Checker(source)
        if not isinstance(data, Mapping):
            raise check.fail("", "must be a mapping of task fields (name, resources, image, run, …)")
        check.known_keys("", data, _TOP_KEYS)
        resources = check.resources(data.get("resources"))
        image = check.text("image", data.get("image"), required=True)
        if image is not None and (not image.strip() or any(c.isspace() for c in image)):
            raise check.fail("image", "must be a Docker image name like cloreai/ubuntu22.04-cuda12")
        run = check.text("run", data.get("run"), required=True)
        setup = check.text("setup", data.get("setup"))
        name = check.text("name", data.get("name")) or _safe_name(default_name)
        if not _NAME.fullmatch(name):
            raise check.fail("name", "must be 1-64 letters, digits, '.', '_' or '-'")
        workdir = check.workdir(data.get("workdir"), Path(base_dir))
        keep = data.get("keep", False)
        if not isinstance(keep, bool):
            raise check.fail("keep", f"must be true or false, got {keep!r}")
        return cls(
            run=run or "",
            image=image or "",
            resources=resources,
            name=name,
            workdir=workdir,
            setup=setup,
            outputs=check.outputs(data.get("outputs")),
            keep=keep,
            env=check.env(data.get("env")),
        )


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", name).strip(".-_")[:64]
    return cleaned or "job"


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> TaskFileError:
        prefix = f"{self.source}: {where} " if where else f"{self.source}: "
        return TaskFileError(prefix + problem, code=2)

    def known_keys(self, where: str, data: Mapping[Any, Any], known: tuple[str, ...]) -> None:
        for key in data:
            if key not in known:
                label = f"{where}.{key}" if where else str(key)
                raise self.fail("", f"unknown field {label!r}; known: {', '.join(known)}")

    def text(self, where: str, value: Any, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                raise self.fail(where, "is required")
            return None
        if isinstance(value, (bool, int, float)):  # YAML read `run: true` as a boolean
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            raise self.fail(where, f'must be text, got the YAML value {shown}: quote it ({where}: "...")')
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(where, "must be text")
        return value

    def resources(self, value: Any) -> Resources:
        if not isinstance(value, Mapping):
            raise self.fail(
                "resources", "is required: a mapping with query, max_price (USD per hour), currency"
            )
        self.known_keys("resources", value, _RESOURCE_KEYS)
        query = self.text("resources.query", value.get("query")) or ""
        try:
            MarketQuery.parse(query)
        except InvalidInputError as error:
            raise self.fail("resources.query", str(error)) from None
        price = value.get("max_price")
        if (
            isinstance(price, bool)
            or not isinstance(price, (int, float))
            or not math.isfinite(price)
            or price <= 0
        ):
            raise self.fail("resources.max_price", f"must be a number > 0 (USD per hour), got {price!r}")
        try:
            currency = normalize_currency(value.get("currency", "usd"))
        except InvalidInputError as error:
            raise self.fail("resources.currency", str(error).split("currency ", 1)[-1]) from None
        return Resources(query=query, max_price=float(price), currency=currency)

    def workdir(self, value: Any, base_dir: Path) -> Path | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail("workdir", "must be a directory path")
        path = (base_dir / value).resolve()
        if not path.is_dir():
            raise self.fail(
                "workdir", f"{value!r} is not a directory (relative paths start at the task file)"
            )
        return path

    def outputs(self, value: Any) -> tuple[Output, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail("outputs", "must be a list of remote paths (or {remote: PATH, local: DIR})")
        found = []
        for index, item in enumerate(value):
            where = f"outputs[{index}]"
            if isinstance(item, str):
                item = {"remote": item}
            if not isinstance(item, Mapping):
                raise self.fail(where, "must be a path or {remote: PATH, local: DIR}")
            self.known_keys(where, item, ("remote", "local"))
            remote = self.text(f"{where}.remote", item.get("remote"), required=True) or ""
            if "\n" in remote or "\0" in remote or ".." in PurePosixPath(remote).parts:
                raise self.fail(f"{where}.remote", "must be one path without '..' or line breaks")
            local = self.text(f"{where}.local", item.get("local")) or "."
            found.append(Output(remote=remote, local=Path(local)))
        return tuple(found)

    def env(self, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail("env", "must be a mapping of NAME: value")
        env = {}
        for key, item in value.items():
            if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
                raise self.fail(
                    "env", f"{key!r} is not a variable name (letters, digits, _; not first a digit)"
                )
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                raise self.fail(f"env.{key}", "must be text or a number")
            env[key] = str(item)
        return env
