"""Time zones per extension: a row's date-only and naive times, read where each extension is.

Which zone a date-only or naive ``from``/``to`` is read in, first that applies:

1. the row's ``timezone`` column;
2. ``--timezone`` (the ``timezone=`` argument);
3. the extension's ``timezone`` in the directory (``bulkops directory pull`` writes the entity's
   own zone, else its site's main auto receptionist's);
4. UTC.

``rules.check_row`` reads a row once, in the zone of 1–2 or else in UTC, and keeps the text of
its naive times (``RowSpec.naive``). Here a row whose extensions have zones of their own becomes
one variant per zone, so a selector over New York and Berlin sends each extension its own UTC
instants: Zoom takes holiday ``from``/``to`` as ``yyyy-MM-dd'T'HH:mm:ss'Z'`` (UTC, the spec's
format), so a local day must be converted before it is sent. A date-only ``to`` stays the last
second of that day (``checks.END_OF_DAY``), in the local zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import Problem
from .checks import DEFAULT_ZONE, ZONE_COLUMN, RowSpec, parse_when
from .directory import TIMEZONE, Directory, Resolution
from .specs import Specs, first_seen

# DEFAULT_ZONE (checks): the zone of rule 4, and what the plan's ZONE_COLUMN shows for it.


def localise(
    specs: Sequence[RowSpec], resolution: Resolution, directory: Directory | None, *, file: str
) -> tuple[Sequence[RowSpec], Resolution, list[Problem]]:
    """Specs and resolution with each zone-less row split by its extensions' zones.

    Variants follow their row in the list, so spec order stays job-file row order (the conflict
    checks read "earlier" and "later" from it).
    """
    if directory is None:
        return specs, resolution, []
    notes = specs.columns["naive"] if isinstance(specs, Specs) else [s.naive for s in specs]
    floating = np.fromiter(map(bool, notes), dtype=bool, count=len(specs))
    if not floating.any():
        return specs, resolution, []
    op_zone = _directory_zones(directory, resolution.position)
    pick = floating[resolution.spec] & (op_zone != "") & (op_zone != DEFAULT_ZONE)
    if not pick.any():
        return specs, resolution, []
    pairs = pd.DataFrame({"spec": resolution.spec[pick], "zone": op_zone[pick]})
    wanted: dict[int, list[str]] = {}
    for i, zone in (
        pairs.drop_duplicates().sort_values(["spec", "zone"]).itertuples(index=False, name=None)
    ):
        wanted.setdefault(int(i), []).append(str(zone))

    out: list[RowSpec] = []
    problems: list[Problem] = []
    base = np.empty(len(specs), dtype=np.int64)
    variants: list[tuple[int, str, int]] = []  # (spec, zone, its variant's index in out)
    for i, spec in enumerate(specs):
        base[i] = len(out)
        out.append(spec)
        for zone in wanted.get(i, ()):
            local, problem = relocalise(spec, zone, file=file)
            if problem is not None:
                problems.append(problem)
                variants.append((i, zone, int(base[i])))
            else:
                variants.append((i, zone, len(out)))
                out.append(local)
    table = pd.DataFrame(variants, columns=["spec", "zone", "index"])
    index = base[resolution.spec]
    index[pick] = pairs.merge(table, on=["spec", "zone"], how="left")["index"].to_numpy()
    return out, replace(resolution, spec=index), problems


def relocalise(spec: RowSpec, zone: str, *, file: str) -> tuple[RowSpec, Problem | None]:
    """``spec`` with its naive times read in ``zone`` instead of UTC (or why they cannot be)."""
    tz = ZoneInfo(zone)
    local = replace(spec, settings=dict(spec.settings), zone=zone, naive=())
    read: dict[str, str] = {}
    for name, text in spec.naive:
        end = name == "to"
        utc, _ = parse_when(text, None, end=end)
        value, reason = parse_when(text, tz, end=end)
        if value is None:
            why = f"{reason} (read in {zone}, the extension's time zone in the directory)"
            return spec, Problem(file, spec.row, name, text, why)
        read[name] = value
        # fields.py copies each time from one reading into these three places, so whatever
        # holds that UTC reading gets the local one.
        if name == "from" and local.holiday_from == utc:
            local.holiday_from = value
        if name == "to" and local.holiday_to == utc:
            local.holiday_to = value
        if local.settings.get(name) == utc:
            local.settings[name] = value
    if "from" in read and "to" in read and read["from"] >= read["to"]:
        why = f"must be after from ({dict(spec.naive)['from']}) in {zone}"
        return spec, Problem(file, spec.row, "to", dict(spec.naive)["to"], why)
    return local, None


def operation_zones(
    specs: Sequence[RowSpec], resolution: Resolution, directory: Directory | None
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """The zone each operation's naive times are read in (the precedence of this module), as
    codes into the zones, numbered in order of first appearance as ``pd.factorize`` numbers
    them: a zone per distinct value, not a string per operation."""
    if isinstance(specs, Specs):
        zone = specs.columns.coded("zone")
        spec_zone, spec_codes = zone.values.tolist(), zone.codes
    else:
        spec_codes, uniques = pd.factorize(np.array([s.zone for s in specs], dtype=object))
        spec_zone = uniques.tolist()
    # One vocabulary for both sources: the rows' zones, then the directory's; -1 is none.
    vocabulary = [z or "" for z in spec_zone]
    to_named = np.array([i if z else -1 for i, z in enumerate(vocabulary)] + [-1], dtype=np.int64)
    named = to_named[np.asarray(spec_codes, dtype=np.int64)][resolution.spec]
    default = len(vocabulary)
    vocabulary.append(DEFAULT_ZONE)
    fallback: npt.NDArray[np.int64] | int = default
    if directory is not None:
        zones = directory.values(TIMEZONE)
        if len(zones):
            found, listed = pd.factorize(np.asarray(zones, dtype=object))
            mapped = np.array(
                [default if z == "" else len(vocabulary) + i for i, z in enumerate(listed)]
                + [default],
                dtype=np.int64,
            )
            vocabulary.extend(str(z) for z in listed)
            position = resolution.position
            fallback = mapped[np.where(position >= 0, found[np.clip(position, 0, None)], -1)]
    merged = np.where(named >= 0, named, fallback).astype(np.int64, copy=False)
    text = np.asarray(vocabulary, dtype=object)
    same, distinct = pd.factorize(text)  # a zone both named and listed is one zone
    codes, order = first_seen(same.astype(np.int64, copy=False)[merged], len(distinct))
    return codes, [str(distinct[i]) for i in order]


def _directory_zones(
    directory: Directory, position: npt.NDArray[np.int64]
) -> npt.NDArray[np.object_]:
    """Each operation's zone from the directory ("" where it gives none)."""
    zones = directory.values(TIMEZONE)
    if not len(zones):
        return np.full(len(position), "", dtype=object)
    return np.asarray(np.where(position >= 0, zones[np.clip(position, 0, None)], ""), dtype=object)


def zones_of_times(frame: pd.DataFrame) -> tuple[tuple[str, int], ...]:
    """How many operations with a holiday time had it read in each zone, most first."""
    if ZONE_COLUMN not in frame.columns:
        return ()
    timed = (frame["holiday_from"].notna() | frame["holiday_to"].notna()).to_numpy(dtype=bool)
    counts = frame.loc[timed, ZONE_COLUMN].astype(str).value_counts(sort=False)
    ranked = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
    return tuple((str(zone), int(n)) for zone, n in ranked)
