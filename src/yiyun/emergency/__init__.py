"""Emergency command: incidents, their log, tasks dispatched to sites, resource reports."""
