"""Before → after of every operation, in words: one renderer shared by diff.csv and results.csv.

An extension's operations are replayed in plan order over its before-image (Zoom's GET as the
first read stored it, ``reports.before``): each operation is described against the extension as
the operations before it left it, so an update of a holiday that an earlier row of the same job
adds shows that holiday as its "before". Only operations that took effect (or, in a dry run,
would) change what the later ones see.

``Change.before``/``after`` are short human text ("Christmas Day: 2027-12-25",
"Mon–Fri 08:00–18:00, Sat–Sun closed", "+14155550123 'Front desk'", "routing.action=1");
``NOTHING`` stands for "no such item", ``UNKNOWN`` for "no before-image to tell" (the extension
was not read, ``--no-precheck``). ``after`` is empty when the operation did not take effect.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..model import Action, Operation, OpStatus, Outcome, SettingType, SubSettingType
from ..state.reader import StateReader
from ..state.schema import OpRecord
from ..state.scratch import WordsTable
from ..zoom import schema
from ..zoom.match import pick_holiday
from ..zoom.view import Holiday
from .before import MISSING, Snapshot, read_back, section
from .jobrows import Json
from .words import (
    NOTHING,
    UNKNOWN,
    entry_words,
    holiday_words,
    hours_words,
    value_words,
)

#: What changed the extension: its later operations see it changed.
TOOK_EFFECT = frozenset({OpStatus.SUCCEEDED, OpStatus.WOULD_CHANGE})
NO_OP = frozenset({OpStatus.ALREADY_PRESENT, OpStatus.ALREADY_ABSENT})
_ENTRY_KEYS = ("phone_number", "description", "enable")
CHUNK = 10_000
_PRESS_1 = "require_press_1_before_connecting"


@dataclass(frozen=True, slots=True)
class Change:
    before: str
    after: str  # "" when the operation did not take effect
    noop: bool  # Zoom already holds what the operation asks for


# --- the extension as the replay sees it ------------------------------------------------------


@dataclass(slots=True)
class _Holiday:
    name: str
    from_: str | None
    to: str | None
    forwarding: _Forwarding = field(default_factory=lambda: _Forwarding())
    handling: Json = field(default_factory=dict)


class _Forwarding(dict[str, Json]):
    """A forwarding list's entries by id, and its ``require_press_1_before_connecting``."""

    press_1: Any = MISSING


def _entries(settings: Json | None) -> _Forwarding:
    items = (settings or {}).get(schema.FORWARDING_ENTRIES) or []
    found = _Forwarding(
        (str(i["id"]), dict(i)) for i in items if isinstance(i, dict) and i.get("id")
    )
    found.press_1 = (settings or {}).get(_PRESS_1, MISSING)
    return found


class Replay:
    """One extension: its before-image, changed by each operation that took effect."""

    def __init__(self, body: Json | None) -> None:
        self.known = body is not None
        snap = Snapshot(body or {})
        self.holidays: dict[str, _Holiday] = {}
        for hid, span, details in snap.holidays():
            self.holidays[hid] = _Holiday(
                str(span.get("name") or ""),
                _text(span.get("from")),
                _text(span.get("to")),
                _entries(section(details, "call_forwarding")),
                dict(section(details, "call_handling") or {}),
            )
        self.forwarding: dict[SettingType, _Forwarding] = {}
        self.handling: dict[SettingType, Json] = {}
        for setting in (SettingType.BUSINESS_HOURS, SettingType.CLOSED_HOURS):
            self.forwarding[setting] = _entries(snap.forwarding(setting, None))
            self.handling[setting] = dict(
                section(snap.entries(setting, None), "call_handling") or {}
            )
        found = section(snap.entries(SettingType.BUSINESS_HOURS, None), "custom_hours")
        self.hours: Json | None = None if found is None else dict(found)
        self.written: dict[tuple[SettingType, str | None], Json] = {}  # call handling we set

    def change(self, op: Operation, outcome: Outcome) -> Change:
        """Describe ``op`` against the extension as it stands, then apply it if it took effect."""
        took = outcome.status in TOOK_EFFECT
        sub = op.sub_setting_type
        if sub is SubSettingType.HOLIDAY:
            before, after = self._holiday(op, outcome, took)
        elif sub is SubSettingType.CALL_FORWARDING:
            before, after = self._forwarding(op, outcome, took)
        elif sub is SubSettingType.CUSTOM_HOURS:
            before, after = self._hours(op, took)
        else:
            before, after = self._handling(op, outcome, took)
        if not self.known and op.action is not Action.ADD:
            before = UNKNOWN
        noop = outcome.status in NO_OP or (took and before == after and before != UNKNOWN)
        if outcome.status in NO_OP:
            after = before if op.action is Action.ADD else NOTHING
        elif not took:
            after = ""
        return Change(before, after, noop)

    # -- holidays ----------------------------------------------------------------------------

    def _holiday_id(self, op: Operation, outcome: Outcome) -> str | None:
        if outcome.target_id in self.holidays:
            return outcome.target_id
        if op.holiday_id is not None:
            return op.holiday_id
        when = op.holiday_from
        if op.action is Action.UPDATE and op.sub_setting_type is SubSettingType.HOLIDAY:
            when = _text(op.settings.get("from"))
        spans = [Holiday(hid, h.name, h.from_, h.to) for hid, h in self.holidays.items()]
        return pick_holiday(spans, op.holiday_name, when, lone=True).id

    def _holiday(self, op: Operation, outcome: Outcome, took: bool) -> tuple[str, str]:
        s = op.settings
        if op.action is Action.ADD:
            new = _Holiday(
                str(s.get("name") or op.holiday_name or ""),
                _text(s.get("from")) or op.holiday_from,
                _text(s.get("to")) or op.holiday_to,
            )
            old = self.holidays.get(outcome.target_id or "")
            if took:
                self.holidays[outcome.target_id or f"new-{op.seq}"] = new
            before = NOTHING if old is None or took else holiday_words(old.name, old.from_, old.to)
            return before, holiday_words(new.name, new.from_, new.to)
        hid = self._holiday_id(op, outcome)
        found = self.holidays.get(hid or "")
        if found is None:
            return NOTHING, NOTHING
        before = holiday_words(found.name, found.from_, found.to)
        if op.action is Action.DELETE:
            if took:
                del self.holidays[str(hid)]
            return before, NOTHING
        name = str(s.get("name") or found.name)
        from_, to = _text(s.get("from")) or found.from_, _text(s.get("to")) or found.to
        if took:
            found.name, found.from_, found.to = name, from_, to
        return before, holiday_words(name, from_, to)

    # -- forwarding ----------------------------------------------------------------------------

    def _list(self, op: Operation, outcome: Outcome) -> tuple[str, _Forwarding | None]:
        """Where ``op``'s forwarding entries live, and a prefix naming its holiday."""
        if op.setting_type is not SettingType.HOLIDAY_HOURS:
            return "", self.forwarding.setdefault(op.setting_type, _Forwarding())
        for under in self.holidays.values():
            if outcome.target_id in under.forwarding:
                return f"{under.name}: ", under.forwarding
        hid = op.holiday_id or self._holiday_id(op, outcome)
        holiday = self.holidays.get(hid or "")
        if holiday is None:
            return f"{op.holiday_name or hid}: ", None
        return f"{holiday.name}: ", holiday.forwarding

    def _forwarding(self, op: Operation, outcome: Outcome, took: bool) -> tuple[str, str]:
        prefix, found = self._list(op, outcome)
        entries = found if found is not None else _Forwarding()  # under a holiday not there
        s = op.settings
        if op.action is Action.ADD:
            new = {k: s.get(k) or getattr(op, k, None) for k in ("phone_number", "description")}
            new = {k: v for k, v in new.items() if v}
            old = entries.get(outcome.target_id or "")
            before = NOTHING if old is None or took else prefix + entry_words(old)
            if took:
                entries[outcome.target_id or f"new-{op.seq}"] = new
            return before, prefix + entry_words(new)
        forwarding_id = outcome.target_id or op.call_forwarding_id
        if op.action is Action.DELETE:
            old = entries.pop(forwarding_id or "", None) if took else None
            old = old or entries.get(forwarding_id or "")
            return (NOTHING if old is None else prefix + entry_words(old)), NOTHING
        befores, afters = [], []
        for item in _updated_items(s, forwarding_id):
            old = entries.get(str(item.get("id")))
            merged = {**(old or {}), **{k: item[k] for k in _ENTRY_KEYS if k in item}}
            befores.append(NOTHING if old is None else entry_words(old))
            afters.append(entry_words(merged))
            if took and old is not None:
                old.update(merged)
        if _PRESS_1 in s:
            old_press = entries.press_1
            befores.append(f"{_PRESS_1}={'?' if old_press is MISSING else value_words(old_press)}")
            afters.append(f"{_PRESS_1}={value_words(s[_PRESS_1])}")
            if took:
                entries.press_1 = s[_PRESS_1]
        return prefix + "; ".join(befores), prefix + "; ".join(afters)

    # -- business hours and call handling -----------------------------------------------------

    def _hours(self, op: Operation, took: bool) -> tuple[str, str]:
        before = hours_words(self.hours)
        merged = dict(self.hours or {})
        merged.update({k: v for k, v in op.settings.items() if k != "custom_hours_settings"})
        days = {d.get("weekday"): d for d in (self.hours or {}).get("custom_hours_settings") or []}
        for item in op.settings.get("custom_hours_settings") or []:
            days[item.get("weekday")] = item
        if days and merged.get("type") == 2:
            merged["custom_hours_settings"] = [days[k] for k in sorted(days, key=str)]
        if took:
            self.hours = merged
        return before, hours_words(merged)

    def _handling(self, op: Operation, outcome: Outcome, took: bool) -> tuple[str, str]:
        hid: str | None = None
        old: Json = self.handling.setdefault(op.setting_type, {})
        prefix = ""
        if op.setting_type is SettingType.HOLIDAY_HOURS:
            hid = self._holiday_id(op, outcome)
            holiday = self.holidays.get(hid or "")
            old = holiday.handling if holiday is not None else {}
            prefix = f"{holiday.name if holiday else op.holiday_name or hid}: "
        written = self.written.setdefault((op.setting_type, hid), {})
        reads = schema.section(op.setting_type, SubSettingType.CALL_HANDLING)
        befores, afters = [], []
        for key, value in sorted(op.settings.items()):
            if key == schema.HOLIDAY_ID:
                continue
            now = written[key] if key in written else read_back(old, reads.reads(key))
            befores.append(f"{key}={'?' if now is MISSING else value_words(now)}")
            afters.append(f"{key}={value_words(value)}")
            if took:
                written[key] = value
        return prefix + ", ".join(befores), prefix + ", ".join(afters)


def _updated_items(settings: Json, forwarding_id: str | None) -> list[Json]:
    """The entries a forwarding update names: its list, or the one its flat fields describe."""
    items = settings.get(schema.FORWARDING_ENTRIES)
    if not isinstance(items, list):
        items = [{k: settings[k] for k in _ENTRY_KEYS if k in settings}]
    out = [dict(i) for i in items if isinstance(i, dict)]
    if out and not out[0].get("id"):
        out[0]["id"] = forwarding_id
    return out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def lane_changes(body: Json | None, records: Iterable[OpRecord]) -> Iterator[tuple[int, Change]]:
    """(seq, change) of one extension's operations, given in plan order, over ``body``."""
    replay = Replay(body)
    for record in records:
        yield record.op.seq, replay.change(record.op, record.outcome)


#: The cells of an operation its words depend on (``Replay`` reads no other): what a lane is
#: read with. Then its seq and target id, and which of them name ids.
_WORDS_FROM = (
    "action",
    "setting_type",
    "sub_setting_type",
    "settings",
    "holiday_id",
    "call_forwarding_id",
    "holiday_name",
    "holiday_from",
    "holiday_to",
    "phone_number",
    "status",
)
_LANE_COLUMNS = (*_WORDS_FROM, "seq", "target_id")
_WORDS_END = len(_WORDS_FROM)
_SEQ_AT, _TARGET_AT = _WORDS_END, _WORDS_END + 1
_NAMED_IDS = tuple(_WORDS_FROM.index(c) for c in ("holiday_id", "call_forwarding_id"))
_LANES_KEPT = 4096  # distinct lanes' words remembered: a rollout repeats a few on every extension


def _lane_key(rows: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    """What the words of a lane without a before-image depend on (rows of ``_LANE_COLUMNS``),
    the same for every extension a job treats alike. The ids Zoom gave (target ids no row names)
    only ever key the replay's own tables, never reach its words, so they count by order of
    appearance alone."""
    named = {row[i] for row in rows for i in _NAMED_IDS}
    given: dict[Any, int] = {}
    key = []
    for row in rows:
        target = row[_TARGET_AT]
        if target is not None and target not in named:
            target = given.setdefault(target, len(given))  # an int: never equal to a named id
        key.append((*row[:_WORDS_END], target))
    return tuple(key)


class ChangeIndex:
    """Every operation's change, worked out extension by extension and kept in a private
    temporary SQLite file, so that reports streaming rows in plan order (where an extension's
    operations lie far apart) join them in flat memory.

    The state is read in one pass, lane by lane, only the cells the words depend on; the words
    of lanes without a before-image are worked out once per distinct lane (``_lane_key``), since
    a job usually does the same to many extensions. Any other lane is read whole and replayed.
    """

    def __init__(
        self,
        reader: StateReader,
        *,
        focused: bool = False,
        pause: Callable[[], object] | None = None,
    ) -> None:
        """``focused``: only the extensions ``reader.focus`` named (``reports.render``);
        ``pause``: called between chunks (a renderer in the background yields there)."""
        self._table = WordsTable()
        known: OrderedDict[tuple[Any, ...], list[tuple[str, str, int]]] = OrderedDict()
        # Inserted CHUNK rows at a time: a statement per lane costs more than its rows.
        waiting: list[tuple[Any, ...]] = []
        for extension_id, text, rows in reader.lanes(_LANE_COLUMNS, focused=focused):
            key = _lane_key(rows) if text is None else None
            words = None if key is None else known.get(key)
            if words is None:
                body = None if text is None else dict(orjson.loads(text))
                found = lane_changes(body, reader.lane(extension_id))
                words = [(c.before, c.after, int(c.noop)) for _, c in found]
                if key is not None:
                    known[key] = words
                    if len(known) > _LANES_KEPT:
                        known.popitem(last=False)
            waiting.extend((row[_SEQ_AT], *w) for row, w in zip(rows, words, strict=True))
            if len(waiting) >= CHUNK:
                self._insert(waiting)
                if pause is not None:
                    pause()
        self._insert(waiting)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        self._table.insert(rows)
        rows.clear()

    def of(self, seqs: Sequence[int]) -> dict[int, Change]:
        return {seq: Change(b, a, bool(n)) for seq, b, a, n in self._table.of(seqs)}

    def between(self, first: int, last: int) -> tuple[list[int], list[str], list[str]]:
        """The seqs, befores and afters of the operations ``first``..``last``, in plan order, as
        three columns: a chunk of results in plan order reads its words in one range scan."""
        rows = self._table.between(first, last)
        seqs, before, after = zip(*rows, strict=True) if rows else ((), (), ())
        return list(seqs), list(before), list(after)

    def close(self) -> None:
        self._table.close()

    def __enter__(self) -> ChangeIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
