"""The values that travel through bulkops: setting kinds, operations and their outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    ADD = "add"
    UPDATE = "update"
    DELETE = "delete"

    @property
    def method(self) -> str:
        return _METHODS[self]


_METHODS = {Action.ADD: "POST", Action.UPDATE: "PATCH", Action.DELETE: "DELETE"}


class SettingType(StrEnum):
    BUSINESS_HOURS = "business_hours"
    CLOSED_HOURS = "closed_hours"
    HOLIDAY_HOURS = "holiday_hours"


class SubSettingType(StrEnum):
    HOLIDAY = "holiday"
    CALL_FORWARDING = "call_forwarding"
    CUSTOM_HOURS = "custom_hours"
    CALL_HANDLING = "call_handling"


_A, _U, _D = Action.ADD, Action.UPDATE, Action.DELETE
_S = SettingType
_SUB = SubSettingType

#: Which actions Zoom accepts for each settingType × sub_setting_type (zoom-api.md, "Bodies").
ALLOWED: dict[tuple[SettingType, SubSettingType], frozenset[Action]] = {
    (_S.BUSINESS_HOURS, _SUB.CALL_FORWARDING): frozenset({_A, _U, _D}),
    (_S.BUSINESS_HOURS, _SUB.CUSTOM_HOURS): frozenset({_U}),
    (_S.BUSINESS_HOURS, _SUB.CALL_HANDLING): frozenset({_U}),
    (_S.CLOSED_HOURS, _SUB.CALL_FORWARDING): frozenset({_A, _U, _D}),
    (_S.CLOSED_HOURS, _SUB.CALL_HANDLING): frozenset({_U}),
    (_S.HOLIDAY_HOURS, _SUB.HOLIDAY): frozenset({_A, _U, _D}),
    (_S.HOLIDAY_HOURS, _SUB.CALL_FORWARDING): frozenset({_A, _U, _D}),
    (_S.HOLIDAY_HOURS, _SUB.CALL_HANDLING): frozenset({_U}),
}


def allowed(action: Action, setting: SettingType, sub: SubSettingType) -> bool:
    return action in ALLOWED.get((setting, sub), frozenset())


class OpStatus(StrEnum):
    """Where an operation stands. The first two are transient; the rest are final."""

    PENDING = "pending"  # planned, nothing sent yet
    IN_FLIGHT = "in_flight"  # intent recorded durably; the outcome is not yet known
    SUCCEEDED = "succeeded"
    ALREADY_PRESENT = "already_present"  # an add whose item was found in place: not re-added
    ALREADY_ABSENT = "already_absent"  # a delete whose item was already gone
    FAILED = "failed"
    SKIPPED = "skipped"  # not attempted because an earlier operation on the extension failed
    NOT_RUN = "not_run"  # the run stopped before reaching it (resumable)

    @property
    def final(self) -> bool:
        return self not in (OpStatus.PENDING, OpStatus.IN_FLIGHT, OpStatus.NOT_RUN)


@dataclass(frozen=True, slots=True)
class Operation:
    """One request-to-be against one extension, in plan order.

    ``settings`` is the ``settings`` object of the request body as far as the job file knows it;
    ids that must be looked up at run time (``needs_lookup``) are filled in by the engine.
    """

    seq: int  # position in the plan, 0-based; plan order is execution order per extension
    op_id: str  # deterministic: job-file content hash + source row + target
    row: int  # source row as the user sees it (header = row 1)
    action: Action
    extension_id: str
    setting_type: SettingType
    sub_setting_type: SubSettingType
    settings: dict[str, Any] = field(default_factory=dict)
    holiday_id: str | None = None  # the holiday this operation targets or lives under
    call_forwarding_id: str | None = None
    # Natural keys, used to find an id by name at run time and to reconcile ambiguous adds.
    holiday_name: str | None = None
    holiday_from: str | None = None  # yyyy-MM-ddTHH:mm:ssZ, narrows a lookup by name
    holiday_to: str | None = None
    phone_number: str | None = None
    extension_number: str | None = None  # from the directory, for reports only
    extension_name: str | None = None

    @property
    def method(self) -> str:
        return self.action.method

    @property
    def needs_lookup(self) -> bool:
        """True when an id the request needs must be read from the extension first."""
        adds_holiday = self.action is Action.ADD and self.sub_setting_type is SubSettingType.HOLIDAY
        # Every holiday-hours request except adding a holiday names a holiday.
        if (
            self.setting_type is SettingType.HOLIDAY_HOURS
            and self.holiday_id is None
            and not adds_holiday
        ):
            return True
        if (
            self.sub_setting_type is SubSettingType.CALL_FORWARDING
            and self.action is not Action.ADD
        ):
            return self.call_forwarding_id is None
        return False


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where one operation ended, or why it went back to pending: the engine decides it, the
    checkpoint stores it, the reports read it back. The one way an outcome travels."""

    status: OpStatus
    http_status: int | None = None
    zoom_code: int | None = None
    message: str | None = None
    created_id: str | None = None  # the id Zoom gave what this operation added
    target_id: str | None = None  # the id the operation acted on (looked up, or created)
    tracking_id: str | None = None  # Zoom's x-zm-trackingid, for support tickets
    reconciled: bool = False  # the result was established by a read after an ambiguous answer
    latency_ms: float | None = None
