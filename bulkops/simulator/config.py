"""How the simulator behaves: plan and rate, faults, latency, tokens, persistence, CLI flags."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from ..config import CREDENTIAL_VARIABLES, AccountPlan, Credentials
from ..errors import ConfigError
from . import profile
from .storage import HolidayNames, HolidayTimes

#: Seed of the default directory; ``generate_directory(60, DEFAULT_SEED)`` is samples/directory.csv.
DEFAULT_SEED = 2026


class _PlanRate(Enum):
    PLAN = "plan"


#: ``SimConfig.rate`` / ``medium_rate`` default: the plan's rate for that label (``None``: unlimited).
FROM_PLAN = _PlanRate.PLAN


class RetryAfter(StrEnum):
    """How a per-second 429 carries ``Retry-After`` (Zoom itself is inconsistent)."""

    NONE = "none"
    SECONDS = "seconds"
    HTTP_DATE = "http-date"
    ISO = "iso"


#: Fault names accepted by ``--fault NAME=PROB`` and ``SimConfig.with_faults``.
FAULTS = ("error_5xx", "applied_5xx", "applied_drop", "slow", "conflict")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything the simulator can be told. All probabilities are in [0, 1].

    Faults (one seeded ``random.Random`` decides them, in request order):

    - ``error_5xx``: answer 500/502/503 before applying anything.
    - ``applied_5xx``: apply the change, then answer 500/503.
    - ``applied_drop``: apply the change, then close the connection without an answer.
    - ``slow``: wait ``slow_s`` seconds (past any sane client timeout), then handle normally.
    - ``conflict``: a write arriving while another write to the same extension is still being
      handled is refused with ``conflict_status`` (Zoom limits simultaneous updates to one
      user's settings; the exact answer is inferred).

    Network jitter: ``jitter_ms`` delays every API request by a uniform draw in
    ``[0, jitter_ms]`` before it *arrives*, i.e. before the token check and the rate window
    see it. Requests sent evenly then reach the window unevenly, which is how a real network
    puts more than ``rate`` requests into one of Zoom's seconds. ``latency_ms`` is different:
    it is spent after admission, and delays the answer only.

    The profile block says what Zoom does where it is silent: see :mod:`.profile`.

    ``error_5xx + applied_5xx + applied_drop + slow`` must not exceed 1.
    """

    plan: AccountPlan = AccountPlan.PRO
    rate: float | _PlanRate | None = FROM_PLAN
    medium_rate: float | _PlanRate | None = FROM_PLAN  # the directory's list endpoints
    latency_ms: float = 0.0  # median of a lognormal; 0 means no added latency
    latency_sigma: float = 0.5
    jitter_ms: float = 0.0  # delay before arrival, uniform in [0, jitter_ms]; 0 means none
    error_5xx: float = 0.0
    applied_5xx: float = 0.0
    applied_drop: float = 0.0
    slow: float = 0.0
    conflict: float = 0.0
    slow_s: float = 30.0
    fault_reads: bool = False  # also apply error/drop/slow faults to the GET
    fault_token: bool = False  # also apply error/drop/slow faults to POST /oauth/token
    seed: int = DEFAULT_SEED
    extensions: int = 60
    directory: Path | None = None
    token_ttl: float = 3600.0
    state_file: Path | None = None
    daily_limit: int | None = None
    no_headers_429: bool = False
    retry_after: RetryAfter = RetryAfter.NONE
    credentials: Credentials | None = field(default=None, repr=False)
    journal_limit: int | None = None  # keep only the newest N journal entries
    # ---- profile: Zoom's behaviour where it is silent (profile.py; defaults profile.DEFAULTS)
    conflict_status: int = 429
    receive_call_returned: bool = True
    missing_extension_status: int = 404
    scopes: str = profile.ALL_SCOPES
    scope_status: int = 400
    # How holidays are stored (storage.py): Zoom does not document it, clients must not rely on it.
    holiday_times: HolidayTimes = HolidayTimes.SECOND
    holiday_names: HolidayNames = HolidayNames.VERBATIM

    def __post_init__(self) -> None:
        object.__setattr__(self, "plan", AccountPlan(self.plan))
        object.__setattr__(self, "retry_after", RetryAfter(self.retry_after))
        for name, kind in (("holiday_times", HolidayTimes), ("holiday_names", HolidayNames)):
            try:
                object.__setattr__(self, name, kind(getattr(self, name)))
            except ValueError:
                choices = ", ".join(k.value for k in kind)
                raise ConfigError(f"{name} must be one of {choices}") from None
        for name in FAULTS:
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"fault {name} must be a probability in [0, 1], not {p}")
        total = self.error_5xx + self.applied_5xx + self.applied_drop + self.slow
        if total > 1.0 + 1e-9:
            raise ConfigError(f"fault probabilities add up to {total:.3f}; keep them at most 1")
        for name in ("rate", "medium_rate"):
            value = getattr(self, name)
            if isinstance(value, int | float) and not value > 0:
                raise ConfigError(f"{name} must be positive or None (unlimited), not {value}")
        if min(self.latency_ms, self.latency_sigma, self.jitter_ms, self.slow_s) < 0:
            raise ConfigError("latency_ms, latency_sigma, jitter_ms and slow_s must be >= 0")
        if self.token_ttl <= 0:
            raise ConfigError("token_ttl must be > 0 seconds")
        if self.extensions < 0:
            raise ConfigError("extensions must be >= 0")
        profile.check({name: getattr(self, name) for name in profile.DEFAULTS})

    @property
    def effective_rate(self) -> float | None:
        """Admitted requests per rolling second, or None for no limit."""
        if isinstance(self.rate, _PlanRate):
            return self.plan.light_rate
        return None if self.rate is None else float(self.rate)

    @property
    def effective_medium_rate(self) -> float | None:
        """Admitted list requests (rate label MEDIUM) per rolling second, or None for no limit."""
        if isinstance(self.medium_rate, _PlanRate):
            return self.plan.medium_rate
        return None if self.medium_rate is None else float(self.medium_rate)

    def updated(self, changes: Mapping[str, Any]) -> SimConfig:
        """A copy with ``changes`` applied (JSON-ish values are coerced; unknown keys refused)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown simulator setting(s): {', '.join(unknown)}")
        coerced: dict[str, Any] = {}
        for key, value in changes.items():
            if key in ("directory", "state_file") and value is not None:
                value = Path(value)
            elif key in ("rate", "medium_rate") and value == "plan":
                value = FROM_PLAN
            coerced[key] = value
        return replace(self, **coerced)

    def public(self) -> dict[str, Any]:
        """A JSON-able view without the credentials."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "credentials":
                continue
            value = getattr(self, f.name)
            if isinstance(value, _PlanRate):
                value = "plan"
            elif isinstance(value, Path):
                value = str(value)
            out[f.name] = value
        out["effective_rate"] = self.effective_rate
        out["effective_medium_rate"] = self.effective_medium_rate
        return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bulkops simulate`` flags (the caller adds ``--host``/``--port`` if it wants them)."""
    parser.add_argument("--account-plan", choices=[p.value for p in AccountPlan], default="pro")
    parser.add_argument(
        "--rate",
        default=None,
        help="LIGHT requests per rolling second (overrides the plan); 'unlimited' for none",
    )
    parser.add_argument(
        "--medium-rate",
        default=None,
        help="MEDIUM (directory list) requests per rolling second; 'unlimited' for none",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="median added latency")
    parser.add_argument(
        "--latency-sigma", type=float, default=0.5, help="spread (lognormal sigma) of the latency"
    )
    parser.add_argument(
        "--jitter-ms",
        type=float,
        default=0.0,
        help="network jitter: delay each API request's arrival by up to this many ms (uniform)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=PROB",
        help=f"fault probability, repeatable; names: {', '.join(FAULTS)}",
    )
    parser.add_argument("--slow-s", type=float, default=30.0, help="how long a 'slow' fault waits")
    parser.add_argument("--fault-reads", action="store_true", help="also fault the GET")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--extensions", type=int, default=60, help="size of the generated directory"
    )
    parser.add_argument("--directory", type=Path, default=None, help="CSV/Parquet directory file")
    parser.add_argument("--state-file", type=Path, default=None, help="persist state here (JSON)")
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="token lifetime, seconds")
    parser.add_argument("--daily-limit", type=int, default=None, help="429 daily after N requests")
    parser.add_argument(
        "--no-rate-headers", action="store_true", help="send 429s without rate-limit headers"
    )
    parser.add_argument(
        "--retry-after", choices=[r.value for r in RetryAfter], default=RetryAfter.NONE.value
    )
    profile.add_arguments(parser)
    parser.add_argument(
        "--holiday-times",
        choices=[t.value for t in HolidayTimes],
        default="second",
        help="store holiday times as sent or to the minute",
    )
    parser.add_argument(
        "--holiday-names",
        choices=[n.value for n in HolidayNames],
        default="verbatim",
        help="store holiday names as sent or trimmed",
    )


def _parse_faults(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, prob = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in FAULTS:
            raise ConfigError(f"--fault wants NAME=PROB with NAME in {', '.join(FAULTS)}: {item!r}")
        try:
            out[name] = float(prob)
        except ValueError:
            raise ConfigError(f"--fault {name}: {prob!r} is not a number") from None
    return out


def _rate_flag(flag: str, value: str | None) -> float | _PlanRate | None:
    if value is None:
        return FROM_PLAN
    if str(value).lower() in ("unlimited", "none", "0"):
        return None
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{flag} must be a number or 'unlimited', not {value!r}") from None


def config_from_args(ns: argparse.Namespace, env: Mapping[str, str] | None = None) -> SimConfig:
    """Build a SimConfig from parsed flags; ZOOM_* variables, when all set, are the credentials."""
    env = os.environ if env is None else env
    given = all(env.get(n) for n in CREDENTIAL_VARIABLES)
    credentials = Credentials.from_env(env) if given else None
    return SimConfig(
        plan=AccountPlan(ns.account_plan),
        rate=_rate_flag("--rate", ns.rate),
        medium_rate=_rate_flag("--medium-rate", ns.medium_rate),
        latency_ms=ns.latency_ms,
        latency_sigma=ns.latency_sigma,
        jitter_ms=ns.jitter_ms,
        slow_s=ns.slow_s,
        fault_reads=ns.fault_reads,
        seed=ns.seed,
        extensions=ns.extensions,
        directory=ns.directory,
        state_file=ns.state_file,
        token_ttl=ns.token_ttl,
        daily_limit=ns.daily_limit,
        no_headers_429=ns.no_rate_headers,
        retry_after=RetryAfter(ns.retry_after),
        credentials=credentials,
        holiday_times=HolidayTimes(ns.holiday_times),
        holiday_names=HolidayNames(ns.holiday_names),
    ).updated({**_parse_faults(ns.fault), **profile.from_args(ns)})
