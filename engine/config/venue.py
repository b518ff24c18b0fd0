"""`[venue]`: which Hyperliquid (mainnet, testnet or the local `hlmm sim`), which account, where the key is."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from engine.config.secrets import secret_file_problem

DEFAULT_BASE_URLS = {
    "mainnet": "https://api.hyperliquid.xyz",
    "testnet": "https://api.hyperliquid-testnet.xyz",
    "local": "http://127.0.0.1:8765",
}
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# hide_input_in_errors: a ValidationError raised by direct construction (outside load_config, which
# renders its own masked messages) must not print values that may be tokens or keys.
SECTION_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, validate_default=True,
                            hide_input_in_errors=True)


def problems(*items: tuple[tuple, str]) -> PydanticCustomError:
    """A cross-field failure naming exact keys (relative to the section); unpacked by errors.py."""
    return PydanticCustomError("hlmm_problems", "{problems}", {"problems": list(items)})


def _address(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not ADDRESS_RE.match(value.strip()):
        raise ValueError(f"{what} must be 0x followed by 40 hex digits")
    return value.strip().lower()


class VenueConfig(BaseModel):
    model_config = SECTION_CONFIG

    network: Literal["mainnet", "testnet", "local"] = "local"
    base_url: str | None = Field(
        default=None, json_schema_extra={"allowed": "an http(s) URL; default follows venue.network"})
    account_address: str | None = Field(default=None, json_schema_extra={"allowed": "0x + 40 hex digits"})
    agent_address: str | None = Field(default=None, json_schema_extra={"allowed": "0x + 40 hex digits"})
    # a sub-account or vault of account_address to trade instead of the master: the master's (or its agent's) key
    # signs with vaultAddress set; orders, positions, fills and ledger rows are the sub-account's
    vault_address: str | None = Field(default=None, json_schema_extra={"allowed": "0x + 40 hex digits"})
    secret_env: str | None = Field(
        default=None, json_schema_extra={"allowed": "an environment variable name, e.g. HLMM_PRIVATE_KEY"})
    secret_file: Path | None = Field(default=None, json_schema_extra={"allowed": "path of a mode 0600 file"})

    @field_validator("account_address")
    @classmethod
    def _check_account(cls, value: str | None) -> str | None:
        return _address(value, "account address")

    @field_validator("agent_address")
    @classmethod
    def _check_agent(cls, value: str | None) -> str | None:
        return _address(value, "agent (API wallet) address")

    @field_validator("vault_address")
    @classmethod
    def _check_vault(cls, value: str | None) -> str | None:
        return _address(value, "sub-account/vault address")

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("secret_env")
    @classmethod
    def _check_env_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not ENV_NAME_RE.match(value):
            raise ValueError("must be the name of an environment variable (letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _derive_and_cross_check(self) -> "VenueConfig":
        found: list[tuple[tuple, str]] = []
        if self.base_url is None:
            object.__setattr__(self, "base_url", DEFAULT_BASE_URLS[self.network])
        if self.network != "local" and self.account_address is None:
            found.append((("account_address",), f"required when venue.network is {self.network!r} "
                          "(the main account's address, 0x + 40 hex digits)"))
        if self.network != "local" and self.account_address == "0x" + "0" * 40:
            found.append((("account_address",), "the zero address is a placeholder; set your account's address"))
        if self.vault_address is not None and self.vault_address in (self.account_address, self.agent_address):
            found.append((("vault_address",), "a sub-account/vault is an address of its own: it must differ from "
                          "venue.account_address (the master) and venue.agent_address"))
        if self.secret_env and self.secret_file:
            found.append((("secret_file",), "set only one key source: venue.secret_env or venue.secret_file"))
        if self.secret_file is not None:
            why = secret_file_problem(Path(self.secret_file).expanduser())
            if why:
                found.append((("secret_file",), why.split(": ", 1)[1]))
        if found:
            raise problems(*found)
        return self

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint that goes with base_url (`/ws` on the same host)."""
        assert self.base_url is not None
        return self.base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/ws"

    @property
    def trading_account(self) -> str | None:
        """The account traded and booked: the sub-account/vault if one is configured, else the master (the
        ledger's `account` of this engine and its flows)."""
        return self.vault_address or self.account_address

    @property
    def signing_address(self) -> str | None:
        """The address whose key signs actions: the agent wallet if one is configured, else the account."""
        return self.agent_address or self.account_address
