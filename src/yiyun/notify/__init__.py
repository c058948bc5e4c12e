"""Notifications: in-app (persisted, pushed live over /ws/events), SMS and e-mail adapters."""
