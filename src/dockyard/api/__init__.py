"""The HTTP adapter: Docker Engine API routes mapped onto dockyard's services.

No business logic lives here: routes parse requests, call a service, and shape Docker's JSON.
"""
