"""The daemon: configuration, composition of the services, start-up recovery, events."""
