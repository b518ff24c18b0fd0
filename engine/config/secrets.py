"""Everything about private keys and secret-bearing strings in the configuration.

Keys never live in the config: they come from an environment variable (`venue.secret_env`) or a file only
the owner can read (`venue.secret_file`, mode 0600/0400). This module finds keys pasted inline (to refuse
them), checks the file's mode, reads the key at the last moment, and masks URLs that embed tokens.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from engine.config.errors import ConfigError, Problem, dotted

PRIVATE_KEY_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
BARE_KEY_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
# Key names that announce a secret: private_key, privateKey, secret, api_secret, key, wallet_key ...
SECRET_NAME_RE = re.compile(r"(private_?key|secret|(^|_)key)$", re.IGNORECASE)

WHERE_KEYS_GO = (
    "private keys never go in the config: put the key in an environment variable and set "
    "venue.secret_env to its name, or in a file readable only by you (chmod 600) and set venue.secret_file"
)


# --------------------------------------------------------------------------------------------------
# Inline keys

def find_inline_keys(data: Any, loc: tuple = ()) -> list[tuple[tuple, str]]:
    """Paths in a raw config tree that hold something shaped like a private key, with the reason."""
    found: list[tuple[tuple, str]] = []
    if isinstance(data, dict):
        for name, value in data.items():
            path = loc + (name,)
            if isinstance(value, str) and SECRET_NAME_RE.search(str(name)) and BARE_KEY_RE.match(value.strip()):
                found.append((path, "holds a private key inline"))
            else:
                found.extend(find_inline_keys(value, path))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(find_inline_keys(value, loc + (index,)))
    elif isinstance(data, str) and PRIVATE_KEY_RE.match(data.strip()):
        found.append((loc, "holds a value shaped like a private key (0x + 64 hex digits)"))
    return found


def inline_key_problems(found: list[tuple[tuple, str]], origin: str = "") -> list[Problem]:
    problems = []
    for loc, reason in found:
        key = dotted(loc)
        hint = ""
        if loc and loc[-1] == "secret_env":
            hint = " (venue.secret_env is the NAME of the environment variable that holds the key, not the key)"
        elif loc and loc[-1] == "secret_file":
            hint = " (venue.secret_file is the PATH of a 0600 file that holds the key, not the key)"
        problems.append(Problem(key, f"{key} {reason}{origin}; refused{hint}: {WHERE_KEYS_GO}"))
    return problems


def drop_paths(data: Any, paths: list[tuple]) -> None:
    """Remove refused values so they never reach a validator (whose errors would echo the input)."""
    for path in sorted(paths, key=len, reverse=True):
        node = data
        for part in path[:-1]:
            node = node[part]
        if isinstance(node, dict):
            node.pop(path[-1], None)
        elif isinstance(node, list):
            node[path[-1]] = None


# --------------------------------------------------------------------------------------------------
# The key file

def secret_file_problem(path: Path, key: str = "venue.secret_file") -> str | None:
    """Why `path` is not an acceptable key file, or None. Never reads the contents."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return f"{key} = {str(path)!r}: file not found (it should hold the private key, mode 0600)"
    except OSError as exc:
        return f"{key} = {str(path)!r}: cannot stat ({exc.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return f"{key} = {str(path)!r}: not a regular file"
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        return (
            f"{key} = {str(path)!r}: mode is {mode:04o}, so group/other users can access the private key; "
            f"refused. Run `chmod 600 {path}` (allowed: 0600 or 0400, owner only)"
        )
    return None


def resolve_private_key(venue_cfg: Any, env: Mapping[str, str] | None = None) -> str:
    """The private key as '0x' + 64 lowercase hex, read from `venue.secret_env` or `venue.secret_file`.

    Errors name the source (variable name or file path) and never include the key or any part of it.
    """
    env = os.environ if env is None else env
    secret_env = getattr(venue_cfg, "secret_env", None)
    secret_file = getattr(venue_cfg, "secret_file", None)
    if secret_env:
        raw = env.get(secret_env)
        source = f"environment variable {secret_env} (venue.secret_env)"
        if raw is None or not raw.strip():
            raise ConfigError(Problem("venue.secret_env", f"venue.secret_env: {source} is not set or empty; "
                                      "export it with the private key (0x + 64 hex digits)"))
    elif secret_file:
        path = Path(secret_file).expanduser()
        why = secret_file_problem(path)
        if why:
            raise ConfigError(Problem("venue.secret_file", why))
        source = f"file {str(path)!r} (venue.secret_file)"
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(Problem("venue.secret_file", f"venue.secret_file: cannot read {source}: "
                                      f"{type(exc).__name__}")) from None
    else:
        raise ConfigError(Problem("venue.secret_env", "venue: no private key source; set venue.secret_env (name of "
                                  "an environment variable) or venue.secret_file (path of a 0600 file)"))
    value = raw.strip()
    if not BARE_KEY_RE.match(value):
        # Say what is wrong with the shape only; any detail (length, prefix) would leak part of it.
        raise ConfigError(Problem("venue.secret_env" if secret_env else "venue.secret_file",
                                  f"{source} does not hold a private key in the expected form "
                                  "(0x followed by 64 hex digits); the value is not shown"))
    if not value.lower().startswith("0x"):
        value = "0x" + value
    return value.lower()


# --------------------------------------------------------------------------------------------------
# Masking

# Apprise's generic webhook schemes: the host says where alerts go (useful to show), the rest is private.
_HOST_SCHEMES = {"json", "jsons", "xml", "xmls", "form", "forms", "http", "https"}


def mask_url(url: str) -> str:
    """Mask everything that may be a token: `tgram://****`; `json://****@host:port/****`."""
    if "://" not in url:
        return "****"
    scheme, rest = url.split("://", 1)
    if not rest:
        return f"{scheme}://"
    if scheme.lower() not in _HOST_SCHEMES:
        return f"{scheme}://****"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{scheme}://****"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    shown = f"{scheme}://"
    if parts.username is not None or parts.password is not None:
        shown += "****@"
    shown += host + (f":{port}" if port else "")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        shown += "/****"
    return shown


def mask_db_url(url: str) -> str:
    """Hide a database password: postgresql://user:****@host:5432/db (SQLite URLs have none)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "****"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return url.replace(parts.netloc, f"{parts.username}:****@{netloc}", 1)
