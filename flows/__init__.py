"""Prefect operations flows around the engine (one module per flow; business logic in flows/logic, shared thin
tasks in flows/tasks.py, venue access in flows/venue.py, ledger access in flows/store.py).

The flows never quote: they change what the engine does only through ledger `params` and `controls` rows.
Deployments (schedules, parameters, work pool) are listed in deployments/catalog.py and prefect.yaml.
"""
