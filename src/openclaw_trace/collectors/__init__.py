"""Producers that sample the host and the gateway and offer events to the ingest queue."""
