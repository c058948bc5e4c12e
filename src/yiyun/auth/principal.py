"""The authenticated caller, as the policy sees it."""

from __future__ import annotations

from dataclasses import dataclass

from yiyun.audit.service import Actor
from yiyun.org.enums import Role


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    institution_id: int
    roles: frozenset[Role]
    session_id: int | None = None
    locale: str | None = None
    # A partner system (SMART Backend Services) rather than a person: no roles, no user
    # row; what it may do is its access token's scopes within its institution.
    partner_id: int | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def is_partner(self) -> bool:
        return self.partner_id is not None

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    def actor(self, *, ip: str | None = None, request_id: str | None = None) -> Actor:
        return Actor(
            user_id=None if self.is_partner else self.user_id,
            username=self.username,
            institution_id=self.institution_id,
            ip=ip,
            request_id=request_id,
        )
