"""Remote push: deliver every stored row upstream, at least once, as native JSON or OTLP/HTTP.

``scheduler.PushScheduler`` (the component) runs a cycle every interval,
guarded by the circuit ``breaker``. A cycle (``cycle.PushCycle``) reads with
``batches``, encodes with ``native`` or ``otlp``, sends with
``client.PushClient`` and marks acknowledged rows through the writer;
``history`` records each cycle (``push_log``, the last push ``/health``
shows). ``ledger`` is the loss ledger each push carries.
"""
