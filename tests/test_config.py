"""Credentials travel as the three ZOOM_* variables: as_env is from_env's inverse."""

from __future__ import annotations

import pytest

from bulkops.config import CREDENTIAL_VARIABLES, Credentials
from bulkops.errors import ConfigError


def test_as_env_reads_back_as_the_same_credentials() -> None:
    creds = Credentials("acct", "client", "s3cret")
    env = creds.as_env()
    assert list(env) == list(CREDENTIAL_VARIABLES)
    assert Credentials.from_env(env) == creds
    assert "s3cret" not in repr(creds)


def test_a_missing_variable_is_named() -> None:
    env = Credentials("acct", "client", "s3cret").as_env()
    del env["ZOOM_CLIENT_ID"]
    with pytest.raises(ConfigError, match="missing ZOOM_CLIENT_ID"):
        Credentials.from_env(env)
