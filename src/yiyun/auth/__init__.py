"""Identity: passwords, TOTP, sessions, API tokens, lockout and the access policy."""
