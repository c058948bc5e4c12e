"""Partner systems (the third-party service portal): registration, SMART Backend
Services tokens, scopes, and signed webhooks."""
