"""Delivery: the ASGI app, pages, REST, FHIR and sockets. Domains never import this."""
