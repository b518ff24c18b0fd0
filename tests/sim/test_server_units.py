"""Pure pieces of the server: weights, the IP limiter's window, subscription identity, CLI parsing."""
from __future__ import annotations

from decimal import Decimal

import pytest
import typer

from engine.commands.sim import check_market, parse_fund, parse_fund_spot
from sim.admin import Faults
from sim.server import IpWeightLimiter, exchange_weight, info_row_surcharge, info_weight
from sim.ws_views import SubscriptionError, subscription_key

COINS = {"BTC", "ETH", "SOL", "HYPE", "PURR/USDC", "@1"}
USER = "0x" + "ab" * 20


def test_weights_follow_the_documented_table():
    assert info_weight({"type": "l2Book"}) == 2 and info_weight({"type": "allMids"}) == 2
    assert info_weight({"type": "meta"}) == 20 and info_weight({"type": "userRole"}) == 60
    assert info_row_surcharge({"type": "userFills"}, [{}] * 45) == 2
    assert info_row_surcharge({"type": "candleSnapshot"}, [{}] * 130) == 2
    assert info_row_surcharge({"type": "l2Book"}, {"levels": []}) == 0
    assert exchange_weight({"action": {"type": "order", "orders": [{}] * 39}}) == 1
    assert exchange_weight({"action": {"type": "cancel", "cancels": [{}] * 80}}) == 3
    assert exchange_weight({"action": {"type": "noop"}}) == 1


def test_limiter_window_rolls_after_a_minute():
    now = [1000.0]
    lim = IpWeightLimiter(100, wall=lambda: now[0])
    assert all(lim.try_consume("1.2.3.4", 20) for _ in range(5))
    assert not lim.try_consume("1.2.3.4", 1)
    assert lim.try_consume("5.6.7.8", 100)  # per IP
    now[0] += 59.9
    assert not lim.try_consume("1.2.3.4", 1)
    now[0] += 0.2
    assert lim.try_consume("1.2.3.4", 100) and lim.used("1.2.3.4") == 100


def test_limiter_counts_weight_spent_and_refusals_per_ip():
    now = [0.0]
    lim = IpWeightLimiter(10, wall=lambda: now[0])
    assert lim.try_consume("1.2.3.4", 6) and not lim.try_consume("1.2.3.4", 6)
    lim.charge("1.2.3.4", 3)  # a per-row surcharge counts as spent too
    now[0] += 61
    assert lim.try_consume("1.2.3.4", 4)
    assert lim.usage() == {"1.2.3.4": {"window": 4, "spent": 13, "refused_429": 1}}
    lim.reset(10)
    assert lim.usage() == {}


def test_subscription_identity_and_validation():
    assert subscription_key({"type": "l2Book", "coin": "@1"}, COINS) == "l2Book:@1:None:None"
    assert subscription_key({"type": "l2Book", "coin": "BTC", "nSigFigs": 5, "mantissa": 2}, COINS) == "l2Book:BTC:5:2"
    assert subscription_key({"type": "userFills", "user": USER.upper().replace("0X", "0x")}, COINS) == f"userFills:{USER}"
    assert subscription_key({"type": "candle", "coin": "SOL", "interval": "15m"}, COINS) == "candle:SOL:15m"
    bad = [{"type": "l2Book", "coin": "DOGE"}, {"type": "l2Book", "coin": "BTC", "nSigFigs": 7},
           {"type": "l2Book", "coin": "BTC", "mantissa": 2}, {"type": "candle", "coin": "BTC", "interval": "7m"},
           {"type": "userFills", "user": "0x12"}, {"type": "webData9"}, {"coin": "BTC"}, "allMids"]
    for sub in bad:
        with pytest.raises(SubscriptionError):
            subscription_key(sub, COINS)


def test_faults_parse_and_seeded_rng():
    f = Faults.parse({"http_5xx_p": 0.5, "seed": 3})
    g = Faults.parse({"http_5xx_p": 0.5, "seed": 3})
    assert [f.hit(0.5) for _ in range(20)] == [g.hit(0.5) for _ in range(20)]
    assert Faults.parse({}).as_json()["http_5xx_p"] == 0.0
    for body in ({"reject_p": -0.1}, {"latency_ms": "5"}, {"what": 1}, {"http_429_p": True}):
        with pytest.raises(ValueError):
            Faults.parse(body)


def test_cli_parsing_names_the_flag():
    addr = "0x" + "Ab" * 20
    assert parse_fund([f"{addr}=1000.5"]) == [(addr.lower(), Decimal("1000.5"))]
    assert parse_fund_spot([f"{addr}=HYPE:10"]) == [(addr.lower(), "HYPE", Decimal(10))]
    for bad in ([f"{addr}"], ["0x12=5"], [f"{addr}=-1"], [f"{addr}=abc"]):
        with pytest.raises(typer.BadParameter, match="--fund"):
            parse_fund(bad)
    with pytest.raises(typer.BadParameter, match="--fund-spot"):
        parse_fund_spot([f"{addr}=10"])
    assert check_market("replay:/x.lz4") == "replay:/x.lz4"
    with pytest.raises(typer.BadParameter, match="--market"):
        check_market("bogus")
