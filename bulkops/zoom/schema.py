"""Zoom's call-handling vocabulary, held once: every field a POST or PATCH ``settings`` body
carries, its type and limits, and where Zoom's GET shows its value again.

Zoom writes in one vocabulary and reads in another: ``call_not_answer_action`` is read back as
``routing.action``, ``forward_to_teams_id`` as ``routing.forward_to.teams_app_id``, and which
fields the GET shows at all depends on the setting type (the holiday-hours GET has no
``busy_routing`` but repeats some routing values flat). So the schema is one :class:`Section` per
(setting_type, sub_setting_type) that Zoom accepts (``model.ALLOWED``), each with its POST and
PATCH fields; a field's ``reads`` are the paths of its value in that section's GET ``settings``
object, preferred first, ``()`` when that GET does not show it.

Sources: the OpenAPI extract (tests/data/zoom-phone-call-handling.openapi.json) and
docs/zoom-api.md. Where they disagree with each other or with practice the field says why;
tests/test_schema.py holds this module against the extract and against the simulator's own,
deliberately separate, reading of it.

The job rules (``jobs.fields``), the request builder (``zoom.routes``), the view (``zoom.view``)
and undo (``reports.undo``) take their field knowledge from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

from ..model import ALLOWED, Action, SettingType, SubSettingType

Path = tuple[str, ...]

#: A read-path step meaning "each item of this list" (a POST's new entry reads back as one).
EACH = "[]"

#: The name of the id Zoom gives what a POST creates: the key of its 201 answer and the query
#: parameter of the DELETE that removes it.
ITEM_ID: dict[SubSettingType, str] = {
    SubSettingType.HOLIDAY: "holiday_id",
    SubSettingType.CALL_FORWARDING: "call_forwarding_id",
}
#: Names the holiday a holiday-hours body writes under (or, for a holiday PATCH, the holiday).
HOLIDAY_ID = ITEM_ID[SubSettingType.HOLIDAY]
#: The list of forwarding entries, in a call_forwarding PATCH body and in the GET alike.
FORWARDING_ENTRIES = "call_forwarding_settings"


class Kind(StrEnum):
    """The JSON type of a field's value (the spec's ``type``)."""

    BOOLEAN = "boolean"
    INTEGER = "integer"
    STRING = "string"
    OBJECT = "object"
    ARRAY = "array"


class Text(StrEnum):
    """What a string holds, where Zoom fixes its form."""

    ANY = "any"  # free text, or an id Zoom also takes as "" or "0" (prompts, greetings)
    ID = "id"  # an extension, holiday or forwarding-entry id; bulkops checks its form
    E164 = "e164"
    E164_PLUS_OPTIONAL = "e164, '+' optional"  # the contact-center number (see its field)
    DATE_TIME = "date-time"  # yyyy-MM-dd'T'HH:mm:ss'Z', in UTC
    HH_MM = "HH:mm"


#: Regular expressions (full match) of the fixed forms; ``Text.ID`` is bulkops' own, in rules.
PATTERNS: dict[Text, str] = {
    Text.E164: r"\+[1-9][0-9]{1,14}",
    Text.E164_PLUS_OPTIONAL: r"\+?[1-9][0-9]{1,14}",
    Text.DATE_TIME: r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
    Text.HH_MM: r"([01][0-9]|2[0-3]):[0-5][0-9]",
}


@dataclass(frozen=True, slots=True)
class Field:
    """One key of a body's ``settings`` (or of an object or list item inside it).

    ``choices`` is Zoom's enum (integers or strings); ``low``/``high`` bound an integer that has
    none. ``parts`` are the keys of an object, or of each item of a list, and read back inside
    their parent under the same names. ``reads`` are where the section's GET shows the value,
    preferred first; ``()`` when it does not: an address (``holiday_id``) or a value Zoom keeps
    but does not return for this setting type.
    """

    name: str
    kind: Kind
    text: Text = Text.ANY
    choices: tuple[int, ...] | tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None
    max_items: int | None = None
    parts: tuple[Field, ...] = ()
    reads: tuple[Path, ...] = ()

    def part(self, name: str) -> Field:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(f"{self.name} has no part {name!r}")


@dataclass(frozen=True, slots=True)
class Section:
    """The bodies Zoom takes for one (setting_type, sub_setting_type), and their read paths."""

    setting_type: SettingType
    sub_setting_type: SubSettingType
    post: tuple[Field, ...] = ()
    patch: tuple[Field, ...] = ()

    def fields(self, action: Action) -> tuple[Field, ...]:
        """The body's fields for ``action``; a DELETE has no body."""
        return {Action.ADD: self.post, Action.UPDATE: self.patch}.get(action, ())

    def find(self, action: Action, name: str) -> Field | None:
        return next((f for f in self.fields(action) if f.name == name), None)

    def field(self, action: Action, name: str) -> Field:
        found = self.find(action, name)
        if found is None:
            what = f"{action.method} {self.setting_type}/{self.sub_setting_type}"
            raise KeyError(f"{what} has no field {name!r}")
        return found

    def names(self, action: Action) -> frozenset[str]:
        return frozenset(f.name for f in self.fields(action))

    def reads(self, name: str) -> tuple[Path, ...]:
        """Where this section's GET shows the value written as ``name`` (PATCH, else POST)."""
        found = self.find(Action.UPDATE, name) or self.find(Action.ADD, name)
        return () if found is None else found.reads


def section(setting: SettingType, sub: SubSettingType) -> Section:
    """The section of a combination Zoom accepts; KeyError for one it does not."""
    return SECTIONS[setting, sub]


def sections() -> Iterator[Section]:
    return iter(SECTIONS.values())


# --- building the table ----------------------------------------------------------------------


def _at(*paths: str, when: bool = True) -> tuple[Path, ...]:
    """Dotted read paths, or none when ``when`` is false (the setting type's GET lacks them)."""
    return tuple(tuple(p.split(".")) for p in paths) if when else ()


def _flag(name: str, reads: tuple[Path, ...] = ()) -> Field:
    return Field(name, Kind.BOOLEAN, reads=reads)


def _text(name: str, reads: tuple[Path, ...] = (), text: Text = Text.ANY) -> Field:
    return Field(name, Kind.STRING, text, reads=reads)


def _number(name: str, choices: tuple[int, ...], reads: tuple[Path, ...] = ()) -> Field:
    return Field(name, Kind.INTEGER, choices=choices, reads=reads)


def _own(*fields: Field) -> tuple[Field, ...]:
    """Fields read back at their own name in the section's GET."""
    return tuple(replace(f, reads=_at(f.name)) for f in fields)


_STEP5 = tuple(range(10, 61, 5))
CALL_NOT_ANSWER_ACTIONS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 18, 19)
BUSY_ACTIONS = (1, 2, 4, 6, 7, 8, 9, 10, 12, 21, 22)
#: 10–60 step 5 for users; 120–1800 only for call-queue overflow (accepted for any type).
MAX_WAIT_TIMES = (*_STEP5, 120, 180, 240, 300, 600, 900, 1200, 1500, 1800)
#: 0 is in Zoom's description of wrap_up_time, not in its enum (a known defect of the spec).
WRAP_UP_TIMES = (0, *_STEP5, 120, 180, 240, 300)
RING_MODES = ("simultaneous", "sequential")
DISTRIBUTION_RING_MODES = ("simultaneous", "sequential", "rotating", "longest_idle")
MAX_FORWARDING_ENTRIES = 10
MAX_CUSTOM_DAYS = 7

_B, _H = SettingType.BUSINESS_HOURS, SettingType.HOLIDAY_HOURS


def _call_handling(setting: SettingType) -> tuple[Field, ...]:
    """The call_handling PATCH: one body for every setting type, read back differently.

    Every setting type's GET has ``routing``; business and closed hours add ``busy_routing``
    (users only) and more routing targets; only business hours shows the call-queue fields.
    The holiday GET repeats three routing values flat, and keeps the busy greeting in
    ``routing``. Flat ``call_not_answer_action`` & co. in the business and closed-hours GET are
    marked "not included in the actual response" by Zoom, so they are not read there.
    """
    holiday, business = setting is _H, setting is _B
    busy = full_routing = not holiday  # no busy_routing; a routing without these targets
    fields = (
        _flag(
            "allow_callers_check_voicemail",
            _at("routing.allow_callers_check_voicemail")
            + _at("allow_callers_check_voicemail", when=holiday),
        ),
        _flag("allow_members_to_reset", _at("allow_members_to_reset", when=business)),
        _text("audio_while_connecting_id", _at("audio_while_connecting.id", when=business)),
        Field(
            "call_distribution",
            Kind.OBJECT,
            # In this order the job rules report the first problem, as they always have.
            parts=(
                Field("ring_mode", Kind.STRING, choices=DISTRIBUTION_RING_MODES),
                _number("ring_duration", _STEP5),
                _flag("handle_multiple_calls"),
                _flag("skip_offline_device_phone_number"),
            ),
            reads=_at("call_distribution", when=business),
        ),
        _number(
            "call_not_answer_action",
            CALL_NOT_ANSWER_ACTIONS,
            _at("routing.action") + _at("call_not_answer_action", when=holiday),
        ),
        _number("busy_on_another_call_action", BUSY_ACTIONS, _at("busy_routing.action", when=busy)),
        _flag(
            "busy_require_press_1_before_connecting",
            _at("busy_routing.require_press_1_before_connecting", when=busy),
        ),
        _flag(
            "un_answered_require_press_1_before_connecting",
            _at("routing.require_press_1_before_connecting"),
        ),
        _flag(
            "overflow_play_callee_voicemail_greeting",
            _at("routing.overflow_play_callee_voicemail_greeting"),
        ),
        _flag("play_callee_voicemail_greeting", _at("routing.play_callee_voicemail_greeting")),
        _flag(
            "busy_play_callee_voicemail_greeting",
            _at("routing.busy_play_callee_voicemail_greeting")
            if holiday
            else _at("busy_routing.busy_play_callee_voicemail_greeting"),
        ),
        _text("phone_number", _at("routing.forward_to.phone_number"), Text.E164),
        _text("description", _at("routing.forward_to.description")),
        _text(
            "busy_phone_number", _at("busy_routing.forward_to.phone_number", when=busy), Text.E164
        ),
        _text("busy_description", _at("busy_routing.forward_to.description", when=busy)),
        _flag(
            "connect_to_operator",
            _at("routing.connect_to_operator") + _at("connect_to_operator", when=holiday),
        ),
        _text("forward_to_extension_id", _at("routing.forward_to.extension_id"), Text.ID),
        _text(
            "busy_forward_to_extension_id",
            _at("busy_routing.forward_to.extension_id", when=busy),
            Text.ID,
        ),
        _text("greeting_prompt_id", _at("greeting_prompt.id", when=business)),
        # Zoom: "Up to 60", no lower bound given. A queue holding no call is refused at run time
        # (issue 14), as the simulator does: 1-60, so `validate` says so before anything is sent.
        Field(
            "max_call_in_queue",
            Kind.INTEGER,
            low=1,
            high=60,
            reads=_at("max_call_in_queue", when=business),
        ),
        _number("max_wait_time", MAX_WAIT_TIMES, _at("max_wait_time")),
        _text("music_on_hold_id", _at("music_on_hold.id", when=business)),
        _text("operator_extension_id", _at("routing.operator.extension_id"), Text.ID),
        _flag("receive_call", _at("receive_call", when=business)),
        Field("ring_mode", Kind.STRING, choices=RING_MODES, reads=_at("ring_mode")),
        _text("voicemail_greeting_id", _at("routing.voicemail_greeting.id")),
        _text(
            "voicemail_leaving_instruction_id",
            _at("routing.voicemail_leaving_instruction.id", when=full_routing),
        ),
        _text("message_greeting_id", _at("routing.message_greeting.id", when=full_routing)),
        # "in E.164 format" says the description, yet the spec's request and GET examples
        # ("12056903036") have no '+': both forms are taken, and undo writes back what it read.
        _text(
            "forward_to_zcc_phone_number",
            _at("routing.forward_to.zcc_phone_number", when=full_routing),
            Text.E164_PLUS_OPTIONAL,
        ),
        _text(
            "forward_to_partner_contact_center_id",
            _at("routing.forward_to.partner_contact_center_id", when=full_routing),
        ),
        _text("forward_to_teams_id", _at("routing.forward_to.teams_app_id", when=full_routing)),
        _number("wrap_up_time", WRAP_UP_TIMES, _at("wrap_up_time", when=business)),
    )
    # Zoom needs the holiday in a holiday-hours PATCH; the spec omits it (zoom-api.md).
    return fields + ((_text(HOLIDAY_ID, text=Text.ID),) if holiday else ())


def _forwarding(setting: SettingType) -> Section:
    holiday = setting is _H
    address = (_text(HOLIDAY_ID, text=Text.ID),) if holiday else ()
    post = (
        _text("phone_number", _at(f"{FORWARDING_ENTRIES}.{EACH}.phone_number"), Text.E164),
        _text("description", _at(f"{FORWARDING_ENTRIES}.{EACH}.description")),
        *address,
    )
    entries = Field(
        FORWARDING_ENTRIES,
        Kind.ARRAY,
        max_items=MAX_FORWARDING_ENTRIES,
        parts=(
            _text("id", text=Text.ID),
            _text("description"),
            _flag("enable"),
            _text("phone_number", text=Text.E164),
            Field("external_contact", Kind.OBJECT, parts=(_text("external_contact_id"),)),
        ),
    )
    # Zoom takes holiday_id in a holiday-hours forwarding PATCH too; the spec omits it.
    patch = (*_own(entries, _flag("require_press_1_before_connecting")), *address)
    return Section(setting, SubSettingType.CALL_FORWARDING, post, patch)


_DAYS = Field(
    "custom_hours_settings",
    Kind.ARRAY,
    max_items=MAX_CUSTOM_DAYS,
    parts=(
        _number("weekday", tuple(range(1, 8))),  # 1 = Sunday
        _number("type", (0, 1, 2)),  # disabled, all day, custom
        _text("from", text=Text.HH_MM),
        _text("to", text=Text.HH_MM),
    ),
)
_SPAN = _own(_text("name"), _text("from", text=Text.DATE_TIME), _text("to", text=Text.DATE_TIME))


def _build() -> dict[tuple[SettingType, SubSettingType], Section]:
    out = {
        (_H, SubSettingType.HOLIDAY): Section(
            _H, SubSettingType.HOLIDAY, _SPAN, (_text(HOLIDAY_ID, text=Text.ID), *_SPAN)
        ),
        (_B, SubSettingType.CUSTOM_HOURS): Section(
            _B,
            SubSettingType.CUSTOM_HOURS,
            patch=_own(
                _number("type", (1, 2)),  # 24 hours, custom
                _DAYS,
                _flag("allow_members_to_reset"),  # call queues
            ),
        ),
    }
    for setting in SettingType:
        out[setting, SubSettingType.CALL_FORWARDING] = _forwarding(setting)
        out[setting, SubSettingType.CALL_HANDLING] = Section(
            setting, SubSettingType.CALL_HANDLING, patch=_call_handling(setting)
        )
    return {key: out[key] for key in ALLOWED if key in out}


SECTIONS: dict[tuple[SettingType, SubSettingType], Section] = _build()
