"""The consortium: regions, institutions, departments, staff, roles and terminals."""
