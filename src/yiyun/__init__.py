"""Yiyun (医云): a regional telemedicine cloud-video platform."""

__version__ = "0.1.0"
