"""Alembic migrations, shipped inside the package so `yiyun migrate` works anywhere."""
