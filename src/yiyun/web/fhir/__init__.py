"""FHIR R4 surface: read and search."""
