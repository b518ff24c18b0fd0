"""What a flow run needs, built once from the config: venue reader/actions, ledger store, alerter, clock.

Flows take ``config_path`` (None: ``hlmm.toml`` / ``$HLMM_CONFIG`` / built-in defaults, like every hlmm
command) so a deployment can point at the operator's file. Secrets are resolved here and never logged.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from functools import cached_property
from typing import Any

from engine.alerts import Alerter, AlertRecord, utc_now
from flows.venue import VenueActions, VenueReader


@dataclasses.dataclass
class Runtime:
    cfg: Any                      # engine.config.HlmmConfig
    reader: VenueReader
    user: str                     # the account whose fills/funding/positions the flows look at

    @cached_property
    def store(self):
        from flows.store import Store

        return Store.from_url(self.cfg.ledger.url, account=self.user)  # params/controls/alerts are this account's

    @cached_property
    def alerter(self) -> Alerter:
        # dedup/throttle decided against the ledger: every flow run (and the engine) shares one alert state
        return Alerter.from_config(self.cfg.alerts, clock=utc_now, source="hlmm flows", ledger=self.store.engine,
                                   account=self.user)

    def alert(self, severity: str, title: str, what: str, todo: str, *, coin: str | None = None,
              dedup_key: str | None = None, attachments: tuple = ()) -> AlertRecord:
        """An alert a person can act on: what happened, on which account and coin, and what to do."""
        where = f"account {self.user} on {self.cfg.venue.network}" + (f", coin {coin}" if coin else "")
        return self.alerter.send(severity, title, f"{what}\n{where}\nWhat to do: {todo}", dedup_key=dedup_key,
                                 attachments=attachments)

    @cached_property
    def actions(self) -> VenueActions:
        """Signed actions; raises a ConfigError naming venue.secret_env/secret_file when no key is set."""
        from engine.config import ConfigError, resolve_private_key

        if self.user != self.cfg.venue.account_address:
            # the flows' client signs for the key's own account; acting for a sub-account needs vaultAddress on
            # every action, which only the engine's client sends so far: refuse rather than trade the master
            raise ConfigError("venue.vault_address: the flows' signed actions (rebalance) cannot act for a "
                              "sub-account/vault yet; run them for the master account")
        return VenueActions(self.reader.base_url, self.user, resolve_private_key(self.cfg.venue))

    def now(self) -> dt.datetime:
        """The venue's notion of now: clearinghouseState.time, or the local venue's admin clock (the simulated
        clock may run ahead of the wall), falling back to the wall clock."""
        t = None
        try:
            t = self.reader.clearinghouse_state(self.user).get("time")
        except Exception:
            pass
        if not t and self.cfg.venue.network == "local":
            try:
                t = self.reader.local_clock_ms()
            except Exception:
                pass
        if t:
            return dt.datetime.fromtimestamp(int(t) / 1000, tz=dt.timezone.utc)
        return utc_now()

    def close(self) -> None:
        self.reader.close()
        if "store" in self.__dict__:
            self.store.close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_runtime(config_path: str | None = None) -> Runtime:
    from engine.config import load_config

    cfg = load_config(config_path)
    user = cfg.venue.trading_account  # a configured sub-account/vault is the account the flows run for
    if not user:
        raise ValueError("venue.account_address: the flows need the account to audit; set it in the config "
                         "(or HLMM_VENUE__ACCOUNT_ADDRESS)")
    return Runtime(cfg=cfg, reader=VenueReader(cfg.venue.base_url, ip_weight_per_min=cfg.limits.ip_weight_per_min,
                                               ip_weight_redis_url=cfg.limits.ip_weight_redis_url),
                   user=user)


def carry_coin(cfg: Any, coin: str | None = None) -> str:
    """The coin the carry runs on: the parameter, else the first market with both legs."""
    if coin:
        cfg.market(coin)  # raises KeyError naming the coin when unknown
        return coin
    for m in cfg.markets:
        if m.spot and m.perp:
            return m.coin
    raise ValueError("markets: no market has both spot and perp legs; the carry needs both")
