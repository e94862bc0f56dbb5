"""OTLP/HTTP input: decoding export requests and mapping them to our events.

``decode`` turns a body (protobuf or OTLP JSON) into the official protobuf
request message; ``spans``, ``logs`` and ``metrics`` are pure functions from
those messages to envelopes for the ingest queue.
"""
