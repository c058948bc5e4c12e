"""Outbreak-detection algorithms over count series (pure, vectorised numpy functions).

Every detector takes counts shaped ``(T,)`` or ``(T, S)`` (time along axis 0)
and returns a frozen :class:`DetectionResult` of arrays of the same shape:
``expected``, ``threshold`` (upper bound), ``score`` and ``alarm`` -- NaN (and
no alarm) where the method cannot be computed yet.

========================  ======================================================
:func:`ears_c1` ... c3    EARS C1/C2/C3, as R ``surveillance::earsC``
:func:`cusum`             Poisson CUSUM, as R ``surveillance::algo.cusum``
:func:`ewma`              EWMA chart on a moving baseline
:func:`farrington_flexible`  improved Farrington (Noufaily et al.), as
                          R ``surveillance::farringtonFlexible``
:func:`moving_percentile` CIDARS moving percentile method
:func:`detect_frame`      run a method over a long ``date,site,syndrome,count``
                          table, per site and for the district total
========================  ======================================================
"""

from __future__ import annotations

from ._common import DetectionResult
from .cusum import cusum
from .ears import ears_c1, ears_c2, ears_c3
from .ewma import ewma
from .farrington import FarringtonResult, farrington_flexible
from .frame import DISTRICT_SITE, METHODS, detect_frame, run_method
from .percentile import moving_percentile

__all__ = [
    "DISTRICT_SITE",
    "METHODS",
    "DetectionResult",
    "FarringtonResult",
    "cusum",
    "detect_frame",
    "ears_c1",
    "ears_c2",
    "ears_c3",
    "ewma",
    "farrington_flexible",
    "moving_percentile",
    "run_method",
]
