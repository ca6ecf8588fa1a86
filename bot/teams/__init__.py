"""The Teams seam: the only package that imports a bot SDK.

``open_gateway(settings)`` returns the seam ``COPBOT_SDK`` names: the Microsoft 365 Agents SDK (``agents``, the
default; :mod:`bot.teams.agents_seam`) or the archived Bot Framework SDK (``botbuilder``, an optional extra;
:mod:`bot.teams.botbuilder_seam`). Both turn the activity's JSON into the project's
:class:`~bot.core.turn.Request` the same way (:mod:`bot.teams.activity`), accept the same tokens
(:mod:`bot.teams.claims`) and raise the same errors (:mod:`bot.teams.errors`). Nothing outside this package
imports either SDK.
"""

from bot.teams.activity import reference_of, to_request
from bot.teams.errors import AuthError, DeliveryError, IdentityUnavailable
from bot.teams.gateway import Authenticated, Gateway, OnRequest, TokenSource, open_gateway

__all__ = [
    "AuthError",
    "Authenticated",
    "DeliveryError",
    "Gateway",
    "IdentityUnavailable",
    "OnRequest",
    "TokenSource",
    "open_gateway",
    "reference_of",
    "to_request",
]
