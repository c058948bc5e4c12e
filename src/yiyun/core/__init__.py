"""Shared kernel: database, errors, clock, bus, storage, logging. Imports no domain."""
