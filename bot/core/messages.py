"""User-facing wording shared across features (feature-specific wording lives beside its card)."""

from __future__ import annotations

APOLOGY = "Sorry, something went wrong on my side and nothing was changed. Please try again. (ref {ref})"
STORAGE_DOWN = "I can't reach my storage right now, so nothing was changed. Please try again in a minute. (ref {ref})"
UNKNOWN_COMMAND = "I didn't get that. Type **help** to see what I can do here."
UNKNOWN_ACTION = "That button is no longer valid. Type **help** to start again."
OTHER_COP = "That button belongs to another CoP's team, so I ignored it. Use it where it was posted."
OTHER_TENANT = "That button belongs to a CoP of another organisation, so I ignored it."
NOT_ALLOWED = "Sorry, only {who} can do that here."
WRONG_PLACE = "**{command}** works in {places}, not here."
EMPTY_MESSAGE = "Type **help** to see what I can do."
EMPTY_SUBMIT = "That button didn't carry anything I can act on. Type **help** to start again."

ROLE_NAMES = {
    0: "anyone",
    1: "members of this CoP",
    2: "this CoP's sponsor, leads and programme admins",
    3: "this CoP's leads and programme admins",
    4: "programme admins",
}
PLACE_NAMES = {"personal": "a personal chat with me", "channel": "a CoP team channel", "groupChat": "a group chat"}
CONNECTOR_DOWN = "Sorry, I couldn't reach Teams to finish that. Please try again in a moment."

NO_COP_HERE = "I don't know which CoP you mean here. Run this in the CoP's team channel (mention me)."
