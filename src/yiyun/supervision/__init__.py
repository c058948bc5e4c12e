"""Telemedicine supervision (远程医疗监管): the health authority's rule checks over the
telemedicine workflows, drill-down to the cases and their audit trail, sampling review."""
