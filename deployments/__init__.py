"""Deployment material for the flows and the engine: the catalog (deployments/catalog.py), the embedded
single-process server entry (`python -m deployments.serve`), the production prefect.yaml at the repository root,
systemd units (deployments/systemd/) and a Grafana dashboard of the engine's metrics (deployments/grafana/);
tests/ops/test_deployment_material.py checks the last two."""
