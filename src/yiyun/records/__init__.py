"""Patients: master patient index, record numbers, documents and consents."""
