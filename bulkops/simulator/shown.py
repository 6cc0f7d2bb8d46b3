"""What a setting type's GET shows of a call_handling write, and what the profile leaves out.

Zoom takes one call_handling body for every setting type but its GET differs: only business hours
show the call-queue fields, and a holiday's GET has a short routing and no busy_routing (it keeps
the busy greeting in routing instead). A field a setting type's GET does not show is accepted and
not kept there: reading it back could only ever show what Zoom never returns.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
Paths = dict[str, tuple[str, ...]]

#: The call-queue fields: closed and holiday hours have none of them in Zoom's GET.
BUSINESS_ONLY = frozenset(
    {
        "allow_members_to_reset",
        "audio_while_connecting_id",
        "call_distribution",
        "greeting_prompt_id",
        "max_call_in_queue",
        "music_on_hold_id",
        "receive_call",
        "wrap_up_time",
    }
)
#: Not in a holiday's GET: the routing targets and prompts of its short routing, busy_routing.
NOT_IN_HOLIDAY = frozenset(
    {
        "voicemail_leaving_instruction_id",
        "message_greeting_id",
        "forward_to_zcc_phone_number",
        "forward_to_partner_contact_center_id",
        "forward_to_teams_id",
        "busy_on_another_call_action",
        "busy_forward_to_extension_id",
        "busy_phone_number",
        "busy_description",
        "busy_require_press_1_before_connecting",
    }
)
#: Where a holiday's GET shows what the other setting types show elsewhere.
HOLIDAY_PATHS: Paths = {
    "busy_play_callee_voicemail_greeting": ("routing", "busy_play_callee_voicemail_greeting"),
}


def hidden_in(setting: str) -> frozenset[str]:
    """The call_handling fields ``setting``'s GET does not show."""
    if setting == "business_hours":
        return frozenset()
    return BUSINESS_ONLY | (NOT_IN_HOLIDAY if setting == "holiday_hours" else frozenset())


def paths_in(setting: str, read_paths: Paths) -> Paths:
    """``read_paths`` (write field → GET path) as ``setting``'s GET has them."""
    return {**read_paths, **HOLIDAY_PATHS} if setting == "holiday_hours" else read_paths


def without_receive_call(tree: Json) -> Json:
    """The GET answer without ``receive_call``, which real accounts reportedly leave out.

    Only the business-hours call_handling entries are copied; the stored tree is not touched.
    """
    business = [
        {**entry, "settings": {k: v for k, v in entry["settings"].items() if k != "receive_call"}}
        if entry["sub_setting_type"] == "call_handling"
        else entry
        for entry in tree["business_hours"]
    ]
    return {**tree, "business_hours": business}
