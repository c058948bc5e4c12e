"""Residents: the public portal's own accounts, signed in with a mobile number."""
