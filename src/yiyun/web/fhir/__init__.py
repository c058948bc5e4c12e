"""FHIR R4 surface: read/search for Organization, Location, Practitioner, PractitionerRole, Patient."""
