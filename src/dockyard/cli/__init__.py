"""The dockyard command line: docker's grammar and output."""
