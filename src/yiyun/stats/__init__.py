"""Statistics (统计数据): measures declared once, daily rollups, dashboards, exports,
the district map and the space-time scan for clusters of syndromic cases."""
