"""Shared test setup. Each room's fixtures live in tests/fixtures/<room>.py (one file per room
so parallel work never collides); they are loaded here as plugins."""
import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

pytest_plugins = [
    "tests.fixtures.paths",
    "tests.fixtures.db",
    "tests.fixtures.sim",
    "tests.fixtures.prefect",
]
