"""`load_config`: one TOML file + HLMM_* environment overrides -> a validated `HlmmConfig`, or a `ConfigError`
listing every problem at once."""
from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError
from pydantic_settings import EnvSettingsSource
from pydantic_settings.exceptions import SettingsError
from pydantic_settings.sources.utils import parse_env_vars

from engine.config.errors import ConfigError, Problem, dotted, problems_from_validation
from engine.config.model import ENV_PREFIX, HlmmConfig
from engine.config.secrets import drop_paths, find_inline_keys, inline_key_problems, mask_db_url, mask_url

DEFAULT_PATH = Path("hlmm.toml")
PATH_ENV = "HLMM_CONFIG"  # optional: path of the config file when none is passed
SECTIONS = tuple(HlmmConfig.model_fields)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' env source over a given mapping instead of os.environ (tests, subprocess envs)."""

    def __init__(self, settings_cls: type[HlmmConfig], env: Mapping[str, str]) -> None:
        self._given_env = {k: v for k, v in env.items() if k.upper().startswith(ENV_PREFIX)}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._given_env, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def _env_routes(env: Mapping[str, str]) -> tuple[dict[tuple[str, ...], str], list[Problem]]:
    """HLMM_* variables that address config keys (path -> name), and near-misses that would be ignored."""
    routes: dict[tuple[str, ...], str] = {}
    near_misses: list[Problem] = []
    for name in env:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX):
            continue
        rest = upper[len(ENV_PREFIX):].lower()
        section = next((s for s in SECTIONS if rest == s or rest.startswith(s + "__")), None)
        if section:
            routes[tuple(rest.split("__"))] = name
            continue
        single = next((s for s in SECTIONS if rest.startswith(s + "_")), None)
        if single:
            fixed = ENV_PREFIX + single.upper() + "__" + upper[len(ENV_PREFIX) + len(single) + 1:]
            near_misses.append(Problem(
                f"{single}.{rest[len(single) + 1:]}",
                f"{name}: looks like an override for [{single}] but nested keys are separated by a double "
                f"underscore; did you mean {fixed}? (a single underscore would be silently ignored)"))
    return routes, near_misses


def _is_index_patch(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(str(k).isdigit() for k in value)


def _default_list(loc: tuple) -> list:
    """The built-in default of a list-valued key (markets: HYPE + BTC), to patch by index."""
    node: Any = HlmmConfig().model_dump(mode="json")
    for part in loc:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, list) else []


def _merge(base: Any, override: Any, loc: tuple = ()) -> Any:
    """Deep-merge env overrides into file values. A dict with digit keys patches a list by index
    (HLMM_MARKETS__0__SPOT=false), the file's list or else the default one."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            if key in base:
                out[key] = _merge(base[key], value, loc + (key,))
            elif _is_index_patch(value):
                out[key] = _merge(_default_list(loc + (key,)), value, loc + (key,))
            elif isinstance(value, dict):
                out[key] = _merge({}, value, loc + (key,))
            else:
                out[key] = value
        return out
    if isinstance(base, list) and _is_index_patch(override):
        out = list(base)
        for key in sorted(override, key=int):
            index = int(key)
            if index < len(out):
                out[index] = _merge(out[index], override[key], loc + (index,))
            elif index == len(out):
                out.append(override[key])
            else:
                raise ConfigError(Problem(dotted(loc + (index,)),
                                          f"{dotted(loc + (index,))}: index {index} skips entries; the list has "
                                          f"{len(out)} (allowed: 0..{len(out)})"))
        return out
    return override


def _is_secret_key(key: str) -> bool:
    return bool(re.match(r"^(alerts\.targets\[\d+\]\.url|ledger\.url)$", key)) or bool(
        re.search(r"(private_?key|secret)$", key, re.IGNORECASE))


def _mask_value(key: str, value: Any) -> str:
    if not isinstance(value, str):
        return "****"
    if key == "ledger.url":
        return repr(mask_db_url(value))
    if key.startswith("alerts."):
        return repr(mask_url(value))
    return "****"


def resolve_path(path: str | os.PathLike | None, env: Mapping[str, str]) -> Path | None:
    """The file to read: the given one (must exist), else $HLMM_CONFIG (must exist), else ./hlmm.toml if
    present, else None (built-in defaults)."""
    if path is not None:
        chosen = Path(path)
    elif env.get(PATH_ENV):
        chosen = Path(env[PATH_ENV])
    elif DEFAULT_PATH.is_file():
        return DEFAULT_PATH
    else:
        return None
    if not chosen.is_file():
        where = f" (from {PATH_ENV})" if path is None else ""
        raise ConfigError(Problem("(file)", f"config file {str(chosen)!r}{where} not found"))
    return chosen


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        # tomllib's messages give position only, never the offending text, so they are safe to show.
        raise ConfigError(Problem("(file)", f"{path}: not valid TOML: {exc}")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(Problem("(file)", f"{path}: cannot read: {type(exc).__name__}")) from None


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> HlmmConfig:
    """Validate FILE (see `resolve_path`) plus HLMM_* overrides from `env` (default os.environ)."""
    env = os.environ if env is None else env
    source = resolve_path(path, env)
    data = read_toml(source) if source is not None else {}
    where = str(source) if source is not None else "built-in defaults"

    found = find_inline_keys(data)
    drop_paths(data, [loc for loc, _ in found])
    problems = inline_key_problems(found, origin=f" (in {where})")

    routes, near_misses = _env_routes(env)
    problems += near_misses
    if routes:
        where += " + HLMM_* environment"

    try:
        overrides = _MappingEnvSource(HlmmConfig, env)()
    except SettingsError as exc:
        # The message names the field; the cause (a JSON error) may quote the value, so it is not shown.
        field = str(exc).split('"')[1] if '"' in str(exc) else "?"
        raise ConfigError(Problem(field, f"{ENV_PREFIX}{field.upper()}: not valid JSON for [{field}] "
                                  f"(use {ENV_PREFIX}{field.upper()}__KEY=value for single keys)"), where) from None
    env_found = find_inline_keys(overrides)
    drop_paths(overrides, [loc for loc, _ in env_found])
    problems += inline_key_problems(env_found, origin=" (from the environment)")

    def origin_of(loc: tuple) -> str | None:
        parts = tuple(str(p).lower() for p in loc)
        best = [name for route, name in routes.items() if parts[:len(route)] == route]
        return max(best, key=len) if best else None

    merged = _merge(data, overrides)
    config: HlmmConfig | None = None
    try:
        config = HlmmConfig(**merged)
    except ValidationError as exc:
        problems += problems_from_validation(exc, HlmmConfig, _is_secret_key, _mask_value, origin_of)
    if problems or config is None:
        raise ConfigError(problems, where)
    config._source_path = source
    config._env_overrides = tuple(sorted(set(routes.values())))
    return config


def default_config() -> HlmmConfig:
    """The embedded defaults (`make up`): local venue, HYPE spot + perp and BTC perp, SQLite ledger."""
    return HlmmConfig()
