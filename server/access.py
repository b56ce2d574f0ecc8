"""Who may do what to which dispatch: the one place the API asks.

A host's ``authenticate(handler)`` names the caller as an :class:`Identity`:
a user name and the scopes its credentials carry.

- ``read``: see one's own dispatches (listing, state, payloads, events).
- ``dispatch``: create, cancel, redispatch and delete one's own dispatches.
- ``admin``: see, read and cancel every user's dispatches (listing with
  ``?all=1`` or ``?owner=NAME``, the event stream of every user). Never
  delete or redispatch another user's dispatch. Each admin action on another
  user's dispatch is logged at INFO (admin, action, dispatch id, owner).

A dispatch of another user answers exactly as an unknown one does (404),
unless the caller is an admin: nobody learns which ids exist.

A host that names a plain string (the Jupyter extension: one server per
person) and the standalone server's single token both stand for the one
user the server has, with every scope: that user owns everything there is,
so being its own admin changes nothing but lets ``?all=1`` work there too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

__all__ = ["Identity", "READ", "DISPATCH", "ADMIN", "ALL_SCOPES", "as_identity", "Hidden", "Refused",
           "authorize", "may_receive", "listing_owner", "event_stream", "may_create", "may_collect_garbage", "ACTIONS"]

log = logging.getLogger(__name__)

READ = "read"
DISPATCH = "dispatch"
ADMIN = "admin"
ALL_SCOPES = frozenset({READ, DISPATCH, ADMIN})

ACTIONS: Mapping[str, str] = {"read": READ, "cancel": DISPATCH, "delete": DISPATCH, "redispatch": DISPATCH}
"""Every action on an existing dispatch, with the scope it needs on one's own."""
_ADMIN_ACTIONS = frozenset({"read", "cancel"})
"""What an admin may do to another user's dispatch."""


@dataclass(frozen=True)
class Identity:
    """The caller of a request: its user ``name`` and the ``scopes`` its credentials carry."""

    name: str
    scopes: frozenset[str] = field(default=frozenset({READ, DISPATCH}))

    @property
    def is_admin(self) -> bool:
        """Whether this caller may see every user's dispatches."""
        return ADMIN in self.scopes

    def may(self, scope: str) -> bool:
        """Whether the caller's credentials carry ``scope`` (admin implies every scope)."""
        return scope in self.scopes or self.is_admin


def as_identity(value: "Identity | str | None") -> Optional[Identity]:
    """What an ``authenticate`` callable answered, as an Identity (None: not authenticated).

    A plain user name is the single user of a one-person host, with every scope.
    """
    if value is None or isinstance(value, Identity):
        return value
    if isinstance(value, str) and value:
        return Identity(value, ALL_SCOPES)
    raise TypeError(f"authenticate answered {type(value).__name__}; expected an Identity, a user name or None")


class Hidden(Exception):
    """The dispatch is unknown to the caller (another user's, or none): answer 404."""


class Refused(Exception):
    """The caller sees the dispatch but may not do this to it (a missing scope): answer 403."""


def authorize(identity: Identity, record: Optional[Mapping[str, Any]], action: str, dispatch_id: str) -> None:
    """Allow ``identity`` to ``action`` (one of :data:`ACTIONS`) the dispatch ``record`` (None: unknown).

    Raises Hidden when the caller may not know the dispatch exists, Refused
    when it may see it but lacks the scope for this action. An admin acting on
    another user's dispatch is logged.
    """
    scope = ACTIONS[action]
    if record is None:
        raise Hidden(f"no dispatch with id {dispatch_id!r}")
    owner = record["owner"]
    if owner == identity.name:
        if not identity.may(scope):
            raise Refused(f"these credentials do not carry the {scope!r} scope needed to {action} a dispatch")
        return
    if not identity.is_admin:
        raise Hidden(f"no dispatch with id {dispatch_id!r}")
    if action not in _ADMIN_ACTIONS:
        raise Refused(f"dispatch {dispatch_id} belongs to another user: an admin may read and cancel it, "
                      f"not {action} it")
    log.info("admin %s: %s dispatch %s of user %s", identity.name, action, dispatch_id, owner)


def may_create(identity: Identity) -> None:
    """Allow the caller to create dispatches (and upload their payloads); Refused otherwise."""
    if not identity.may(DISPATCH):
        raise Refused(f"these credentials do not carry the {DISPATCH!r} scope needed to dispatch")


def may_collect_garbage(identity: Identity) -> None:
    """Allow the caller to collect the server's unused payloads (every user's: admin only); Refused otherwise."""
    if not identity.is_admin:
        raise Refused("only an admin may collect the server's unused payloads (they belong to every user)")
    log.info("admin %s: collect unused payloads", identity.name)


def may_receive(identity: Identity, event: Mapping[str, Any], every_owner: bool = False) -> bool:
    """Whether an event may go to a subscriber of ``identity`` (``every_owner``: an admin's stream of all)."""
    if not identity.may(READ):
        return False
    return event.get("owner") == identity.name or (every_owner and identity.is_admin)


def event_stream(identity: Identity, every_owner: bool) -> None:
    """Allow a subscription to the caller's events, or (``every_owner``, admin only, logged) everyone's.

    Raises Refused when the caller lacks the scope for it.
    """
    if not identity.may(READ):
        raise Refused(f"these credentials do not carry the {READ!r} scope needed to follow events")
    if every_owner:
        if not identity.is_admin:
            raise Refused("only an admin may follow every user's events ('all' is admin-only)")
        log.info("admin %s: follow the events of every user", identity.name)


def listing_owner(identity: Identity, all_owners: bool, owner: Optional[str]) -> Optional[str]:
    """Whose dispatches a listing shows: the caller's; another user's or everyone's (None) for an admin.

    Raises Refused when a caller that is not an admin asks for more than its
    own; logs an admin's listing of others.
    """
    if not identity.may(READ):
        raise Refused(f"these credentials do not carry the {READ!r} scope needed to list dispatches")
    if not all_owners and (owner is None or owner == identity.name):
        return identity.name
    if not identity.is_admin:
        raise Refused("only an admin may list other users' dispatches ('all' and 'owner' are admin-only)")
    whose = "every user" if all_owners else f"user {owner}"
    log.info("admin %s: list dispatches of %s", identity.name, whose)
    return None if all_owners else owner
