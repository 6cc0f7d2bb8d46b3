"""The simulated account's extensions: a seeded generator and a CSV/Parquet directory reader.

A directory file has the columns ``extension_id, extension_number, name, email, type, site``
and, optionally, ``country`` and ``subdivision`` (the site's ISO 3166 codes, for holiday
calendars) and ``timezone`` (written from the site, read by the job side only); ``type`` is one
of ``user``, ``call_queue``, ``auto_receptionist``, ``shared_line_group`` and ``email`` is empty
for everything but users. A file written by ``bulkops directory pull`` (``site_name`` for
``site``) reads as the account it was pulled from.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..errors import JobFileError, Problem

COLUMNS = ("extension_id", "extension_number", "name", "email", "type", "site")
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SITES = ("New York", "London", "Berlin")
#: Each site's ISO 3166 country and subdivision, so `bulkops holidays --by-site` has them.
SITE_REGIONS = {"New York": ("US", "NY"), "London": ("GB", "ENG"), "Berlin": ("DE", "BE")}
REGION_COLUMNS = ("country", "subdivision")
#: Each site's IANA zone: a written directory carries it so local times resolve per extension.
SITE_ZONES = {"New York": "America/New_York", "London": "Europe/London", "Berlin": "Europe/Berlin"}

_FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
    "Hedy",
    "John",
    "Katherine",
    "Niklaus",
    "Sophie",
    "Guido",
    "Anita",
    "Donald",
    "Shafi",
    "Leslie",
    "Mary",
    "Bjarne",
    "Lynn",
    "Vint",
    "Jean",
    "Fran",
    "Butler",
    "Ivan",
]
_LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "McCarthy",
    "Johnson",
    "Wirth",
    "Wilson",
    "Rossum",
    "Borg",
    "Knuth",
    "Goldwasser",
    "Lamport",
    "Shaw",
    "Stroustrup",
    "Conway",
    "Cerf",
    "Sammet",
    "Bilas",
    "Lampson",
    "Sutherland",
]
_QUEUES = ("Sales", "Support", "Billing", "Onboarding")
_RECEPTIONISTS = ("Main Line", "After Hours", "Reception IVR")
_GROUPS = ("Front Desk", "Facilities", "IT Helpdesk")


class ExtensionType(StrEnum):
    USER = "user"
    CALL_QUEUE = "call_queue"
    AUTO_RECEPTIONIST = "auto_receptionist"
    SHARED_LINE_GROUP = "shared_line_group"

    @property
    def zoom_name(self) -> str:
        """The spelling Zoom uses in ``extension_type`` fields of the GET answer."""
        return _ZOOM_NAMES[self]


_ZOOM_NAMES = {
    ExtensionType.USER: "user",
    ExtensionType.CALL_QUEUE: "callQueue",
    ExtensionType.AUTO_RECEPTIONIST: "autoReceptionist",
    ExtensionType.SHARED_LINE_GROUP: "sharedLineGroup",
}


@dataclass(frozen=True, slots=True)
class Extension:
    extension_id: str
    extension_number: int
    name: str
    email: str | None
    type: ExtensionType
    site: str
    country: str = ""
    subdivision: str = ""


def zoom_id(rng: random.Random) -> str:
    """A 22-character base62 id shaped like Zoom's (``nNGsNx2zRDyiIXWVI23FCQ``)."""
    return "".join(rng.choices(BASE62, k=22))


def hashed_id(key: str) -> str:
    """A 22-character base62 id derived from ``key``: the same key always gives the same id."""
    n = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=17).digest(), "big")
    chars = []
    for _ in range(22):
        n, r = divmod(n, 62)
        chars.append(BASE62[r])
    return "".join(chars)


def generate_directory(n: int, seed: int) -> list[Extension]:
    """``n`` extensions spread over three sites, ~70 % users; the same (n, seed) gives the same list."""
    rng = random.Random(seed)
    used_names: set[str] = set()
    counters = dict.fromkeys(SITES, 0)
    out: list[Extension] = []
    kinds = [ExtensionType.USER] * 7 + [
        ExtensionType.CALL_QUEUE,
        ExtensionType.AUTO_RECEPTIONIST,
        ExtensionType.SHARED_LINE_GROUP,
    ]
    for i in range(n):
        site = SITES[i % len(SITES)]
        kind = ExtensionType.USER if i < len(SITES) else rng.choice(kinds)
        counters[site] += 1
        number = (SITES.index(site) + 1) * 1000 + 100 + counters[site]
        email: str | None = None
        if kind is ExtensionType.USER:
            while True:
                first, last = rng.choice(_FIRST), rng.choice(_LAST)
                name = f"{first} {last}"
                if name not in used_names:
                    break
                if len(used_names) >= len(_FIRST) * len(_LAST):  # pragma: no cover - huge n
                    name = f"{first} {last} {number}"
                    break
            email = f"{first}.{last}".lower().replace("-", "") + f"{number}@example.com"
        else:
            pool = {
                ExtensionType.CALL_QUEUE: _QUEUES,
                ExtensionType.AUTO_RECEPTIONIST: _RECEPTIONISTS,
                ExtensionType.SHARED_LINE_GROUP: _GROUPS,
            }[kind]
            label = {
                ExtensionType.CALL_QUEUE: "Queue",
                ExtensionType.AUTO_RECEPTIONIST: "",
                ExtensionType.SHARED_LINE_GROUP: "Group",
            }[kind]
            name = f"{site} {rng.choice(pool)} {label}".strip()
            if name in used_names:
                name = f"{name} {number}"
        used_names.add(name)
        country, subdivision = SITE_REGIONS[site]
        out.append(Extension(zoom_id(rng), number, name, email, kind, site, country, subdivision))
    return out


def with_main_receptionists(extensions: Sequence[Extension], seed: int) -> list[Extension]:
    """``extensions`` and, after them, a main auto receptionist for each site that has none.

    Zoom creates one with every site, and a site's time zone is its main auto receptionist's;
    a generated account has them too. (A directory file describes its account as it is.)
    """
    out = list(extensions)
    covered = {e.site for e in out if e.type is ExtensionType.AUTO_RECEPTIONIST}
    numbers = {e.extension_number for e in out}
    for site in dict.fromkeys(e.site for e in out if e.site):
        if site in covered:
            continue
        first = next(e for e in out if e.site == site)
        number = max(e.extension_number for e in out if e.site == site) + 1
        while number in numbers:
            number += 1
        numbers.add(number)
        out.append(
            Extension(
                hashed_id(f"{seed}:main_auto_receptionist:{site}"),
                number,
                f"{site} Main Auto Receptionist",
                None,
                ExtensionType.AUTO_RECEPTIONIST,
                site,
                first.country,
                first.subdivision,
            )
        )
    return out


def load_directory(path: str | Path) -> list[Extension]:
    """Read a CSV or Parquet directory file; every defect is reported at once."""
    import pandas as pd  # only here: `bulkops --help` builds the simulate flags without pandas

    path = Path(path)
    name = str(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path).astype("string")
        else:
            frame = pd.read_csv(path, dtype="string", keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise JobFileError([Problem(name, None, None, None, f"cannot read: {exc}")]) from exc
    if "site" not in frame.columns and "site_name" in frame.columns:  # a pulled directory
        frame = frame.rename(columns={"site_name": "site"})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        reason = f"missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}"
        raise JobFileError([Problem(name, 1, None, None, reason)])
    problems: list[Problem] = []
    out: list[Extension] = []
    seen: set[str] = set()
    for i, rec in enumerate(frame.to_dict("records"), start=2):
        values = {
            c: ("" if pd.isna(rec.get(c, "")) else str(rec.get(c, "")).strip())
            for c in (*COLUMNS, *REGION_COLUMNS)
        }
        ext_id, kind = values["extension_id"], values["type"]
        if not ext_id:
            problems.append(Problem(name, i, "extension_id", ext_id, "must not be empty"))
        elif ext_id in seen:
            problems.append(Problem(name, i, "extension_id", ext_id, "duplicate extension_id"))
        seen.add(ext_id)
        if kind not in ExtensionType.__members__.values():
            choices = ", ".join(t.value for t in ExtensionType)
            problems.append(Problem(name, i, "type", kind, f"must be one of {choices}"))
            continue
        if not values["extension_number"].isdigit():
            reason = "must be a whole number"
            problems.append(
                Problem(name, i, "extension_number", values["extension_number"], reason)
            )
            continue
        email = values["email"] or None
        out.append(
            Extension(
                ext_id,
                int(values["extension_number"]),
                values["name"],
                email,
                ExtensionType(kind),
                values["site"],
                values["country"],
                values["subdivision"],
            )
        )
    if problems:
        raise JobFileError(problems)
    return out


def write_directory(extensions: Sequence[Extension], path: str | Path) -> None:
    """Write a directory file (CSV, or Parquet when the name ends in ``.parquet``)."""
    import pandas as pd

    path = Path(path)
    frame = pd.DataFrame(
        [
            {
                "extension_id": e.extension_id,
                "extension_number": str(e.extension_number),
                "name": e.name,
                "email": e.email or "",
                "type": e.type.value,
                "site": e.site,
                "country": e.country,
                "subdivision": e.subdivision,
                "timezone": SITE_ZONES.get(e.site, ""),
            }
            for e in extensions
        ],
        columns=[*COLUMNS, *REGION_COLUMNS, "timezone"],
    )
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, lineterminator="\n")
