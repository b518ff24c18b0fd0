"""Deployment material for the flows: the catalog (deployments/catalog.py), the embedded single-process
server entry (`python -m deployments.serve`), and the production prefect.yaml at the repository root."""
