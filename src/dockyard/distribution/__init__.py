"""Distribution: the registry client (pull, push, login) and dockyard's registry server.

Both speak the OCI distribution spec 1.1 (and Docker's registry API v2) and keep blobs in a
`ContentStore`.
"""
