"""Signed tokens for the readers' links: unsubscribe, confirmation, CSRF (itsdangerous, HMAC-SHA256).

Every check goes through itsdangerous, which compares signatures with ``hmac.compare_digest``
(constant time). A token carries no personal data: the unsubscribe token signs the
subscriber's random database token, the confirmation token a random nonce of the pending
sign-up, the CSRF token the random value of the browser's CSRF cookie.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer

_SALTS = {"unsubscribe": "nightdesk.unsubscribe.v1", "confirm": "nightdesk.confirm.v1", "csrf": "nightdesk.csrf.v1"}


class TokenError(ValueError):
    """A token that is malformed, forged, or expired; the message says which, never why in detail."""


@dataclass(frozen=True)
class Tokens:
    """Signs and checks the three kinds of token with one secret key (at least 32 characters)."""

    secret_key: str

    def _signer(self) -> Signer:
        return Signer(self.secret_key, salt=_SALTS["unsubscribe"], digest_method=hashlib.sha256)

    def _timed(self, kind: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt=_SALTS[kind], signer_kwargs={"digest_method": hashlib.sha256})

    def unsubscribe(self, subscriber_token: str) -> str:
        """The signed, non-expiring token of a subscriber's unsubscribe and preference links.

        >>> t = Tokens("k" * 32)
        >>> signed = t.unsubscribe("abc")
        >>> t.read_unsubscribe(signed)
        'abc'
        """
        return self._signer().sign(subscriber_token).decode("ascii")

    def read_unsubscribe(self, token: str) -> str:
        """The subscriber's database token inside a signed token; :class:`TokenError` if forged."""
        try:
            return self._signer().unsign(token.encode("ascii")).decode("ascii")
        except (BadSignature, UnicodeError):
            raise TokenError("unsubscribe token: not valid") from None

    def confirmation(self, nonce: str) -> str:
        """A timestamped token for the double opt-in link of one pending sign-up."""
        return self._timed("confirm").dumps(nonce)

    def read_confirmation(self, token: str, *, max_age_s: int) -> str:
        """The pending sign-up's nonce; :class:`TokenError` if forged or older than ``max_age_s``."""
        try:
            nonce = self._timed("confirm").loads(token, max_age=max_age_s)
        except BadSignature:  # SignatureExpired is a BadSignature
            raise TokenError("confirmation link: not valid or expired") from None
        if not isinstance(nonce, str):
            raise TokenError("confirmation link: not valid or expired")
        return nonce

    def csrf(self, cookie_value: str) -> str:
        """The form field matching the browser's CSRF cookie (double submit, signed and timed)."""
        return self._timed("csrf").dumps(cookie_value)

    def check_csrf(self, token: str, cookie_value: str, *, max_age_s: int = 4 * 3600) -> bool:
        """True when ``token`` was made for ``cookie_value`` by this key within ``max_age_s``."""
        if not token or not cookie_value:
            return False
        try:
            inner = self._timed("csrf").loads(token, max_age=max_age_s)
        except BadSignature:
            return False
        return isinstance(inner, str) and hmac.compare_digest(inner.encode(), cookie_value.encode())
