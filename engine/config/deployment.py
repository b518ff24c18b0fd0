"""`[deployment]`: how this account's Prefect deployments are named and which work pool runs them.

Read by `hlmm deployments render` (deployments/render.py): one config file per account, each naming its label
(in every deployment name of the account) and its work pool (the pool whose workers, on whichever host, run
the account's flows). A config without a label keeps the single-account names of prefect.yaml.
"""
from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator

from engine.config.venue import SECTION_CONFIG

LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,23}$")
POOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class DeploymentConfig(BaseModel):
    model_config = SECTION_CONFIG

    label: str | None = Field(default=None, json_schema_extra={
        "allowed": "1-24 lowercase letters, digits, '-' or '_', starting with a letter or digit, e.g. desk-a"})
    work_pool: str = Field(default="hlmm-process", json_schema_extra={
        "allowed": "a Prefect work pool name: letters, digits, '.', '-', '_' (1-64)"})
    # the path of this file on the worker hosts, given to every flow as `config_path`; None: the path the file
    # was rendered from (made absolute). Set it when the render host keeps the file somewhere else.
    worker_config_path: str | None = Field(default=None, json_schema_extra={"allowed": "an absolute path"})

    @field_validator("label")
    @classmethod
    def _check_label(cls, value: str | None) -> str | None:
        if value is not None and not LABEL_RE.match(value):
            raise ValueError("must be 1-24 lowercase letters, digits, '-' or '_' (it goes into deployment names)")
        return value

    @field_validator("work_pool")
    @classmethod
    def _check_pool(cls, value: str) -> str:
        if not POOL_RE.match(value):
            raise ValueError("must be 1-64 letters, digits, '.', '-' or '_'")
        return value

    @field_validator("worker_config_path")
    @classmethod
    def _check_path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("must be an absolute path (the workers run from directories of their own)")
        return value
