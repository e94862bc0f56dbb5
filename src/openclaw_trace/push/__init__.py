"""Remote push: deliver every stored row upstream, at least once, as native JSON or OTLP/HTTP.

``scheduler.PushScheduler`` (the component) reads with ``batches``, encodes
with ``native`` or ``otlp``, sends with ``client.PushClient`` and marks
acknowledged rows through the writer. ``ledger`` is the loss ledger each
push carries.
"""
