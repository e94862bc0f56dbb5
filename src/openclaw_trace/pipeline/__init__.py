"""The ingest pipeline: the bounded queue and the single writer thread."""
