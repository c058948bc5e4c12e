"""Operations (运维): terminal device credentials and heartbeats, alarms, topology, kiosk."""
