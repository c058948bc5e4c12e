"""The demo consortium: a fictional district seeded by `yiyun demo` (see `seed.seed`)."""
