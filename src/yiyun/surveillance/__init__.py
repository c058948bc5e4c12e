"""Syndromic surveillance: outbreak-detection algorithms over daily case counts.

Clinics in the consortium report daily counts per syndrome (fever, diarrhoea,
influenza-like illness, ...). :mod:`yiyun.surveillance.detectors` holds the
aberration-detection algorithms used by public-health staff (EARS C1/C2/C3,
CUSUM, EWMA, the improved Farrington method and the CIDARS moving percentile
method); :mod:`yiyun.surveillance.cli` exposes them on the command line.

The algorithms are validated against the R package ``surveillance``
(Salmon, Schumacher & Höhle, 2016, J. Stat. Softw. 70(10)).
"""
