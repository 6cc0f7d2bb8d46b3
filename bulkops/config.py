"""Configuration shared by every command: credentials, endpoints and the account's rate."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .errors import ConfigError

DEFAULT_API_URL = "https://api.zoom.us/v2"
DEFAULT_OAUTH_URL = "https://zoom.us/oauth/token"
#: The conventional variables of a Server-to-Server OAuth app, in Credentials' field order.
CREDENTIAL_VARIABLES = ("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET")


class AccountPlan(StrEnum):
    """Zoom plans differ in their budgets (requests per second, per account, per rate label)."""

    PRO = "pro"
    BUSINESS = "business"

    @property
    def light_rate(self) -> float:
        return 20.0 if self is AccountPlan.PRO else 40.0

    @property
    def medium_rate(self) -> float:
        """The MEDIUM label's budget: the directory's list endpoints, paced apart from LIGHT."""
        return 10.0 if self is AccountPlan.PRO else 20.0


@dataclass(frozen=True, slots=True)
class Credentials:
    """Server-to-Server OAuth app credentials. The secret never shows in a repr or a log."""

    account_id: str
    client_id: str
    client_secret: str = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Credentials:
        env = os.environ if env is None else env
        missing = [n for n in CREDENTIAL_VARIABLES if not env.get(n)]
        if missing:
            raise ConfigError(
                f"missing {', '.join(missing)}: set them to your Server-to-Server OAuth app's "
                "account id, client id and client secret, or pass --simulate to use the "
                "built-in simulator"
            )
        return cls(*(env[name] for name in CREDENTIAL_VARIABLES))

    def as_env(self) -> dict[str, str]:
        """The ``ZOOM_*`` variables that ``from_env`` reads back as these credentials."""
        return dict(
            zip(
                CREDENTIAL_VARIABLES,
                (self.account_id, self.client_id, self.client_secret),
                strict=True,
            )
        )


@dataclass(frozen=True, slots=True)
class Endpoints:
    api_url: str = DEFAULT_API_URL
    oauth_url: str = DEFAULT_OAUTH_URL

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        api_url: str | None = None,
        oauth_url: str | None = None,
    ) -> Endpoints:
        """Flags win over variables, variables over Zoom's public endpoints."""
        env = os.environ if env is None else env
        return cls(
            api_url=(api_url or env.get("ZOOM_API_URL") or DEFAULT_API_URL).rstrip("/"),
            oauth_url=oauth_url or env.get("ZOOM_OAUTH_URL") or DEFAULT_OAUTH_URL,
        )


def resolve_rate(plan: AccountPlan | str | None, rate: float | None) -> float:
    """``--rate`` wins; otherwise the plan's LIGHT budget; Pro when nothing is said."""
    if rate is not None:
        # inf would turn the limiter's interval into 0 and nan compares false with everything.
        if not (math.isfinite(rate) and rate > 0):
            raise ConfigError(
                f"--rate must be a positive, finite number of requests per second (such as 20 "
                f"or 40, the Pro and Business budgets), not {rate}"
            )
        return float(rate)
    try:
        return AccountPlan(plan or AccountPlan.PRO).light_rate
    except ValueError:
        raise ConfigError(f"--account-plan must be 'pro' or 'business', not {plan!r}") from None
