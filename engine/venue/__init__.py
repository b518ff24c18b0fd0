"""Talking to Hyperliquid (or `hlmm sim`) and nothing else.

wire.py     action builders in the SDK's exact key order; float/Decimal → wire strings
signing.py  fast signer, bit-exact with hyperliquid-python-sdk 0.24.0 (crypto.py: keccak/secp256k1 calls)
rest.py     VenueRest: /info (typed, weighted, retried) and /exchange (sent once; resolve.py settles lost replies)
info.py     typed /info calls; types.py (market data, float) / account.py (account data, Decimal) parsers
results.py  typed /exchange results; errors.py: every reject string → one Outcome, and the error contract
limits.py   IP weight bucket, address budget, open-order cap, persistent nonce manager
feed.py     WebSocket feed with resubscribe + Resync; decode.py: frames → typed messages

Submodules are imported explicitly (nothing re-exported here) so the engine pays only for what it uses.
"""
