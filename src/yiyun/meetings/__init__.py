"""Video meetings: instant meetings, members, room tokens for the media layer."""
