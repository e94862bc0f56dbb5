"""Builds the parts, starts them in order and stops them in reverse under one deadline.

Start: open and migrate the database, bind the socket (so a busy port fails
before anything runs), start the writer, then serve HTTP. Stop (SIGTERM,
SIGINT or ``stop()``): stop the parts that produce events, close the queue
so that it accepts no more, and let the writer drain it while HTTP still
answers: a request that arrives during the stop gets its 202 with its events
counted as ``shutdown`` drops, instead of a refused connection that nobody
counts. Then stop HTTP (in-flight requests finish), checkpoint the WAL,
close, and log the totals.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from types import FrameType

import uvloop

from openclaw_trace import __version__
from openclaw_trace.api.app import App
from openclaw_trace.api.context import AppContext
from openclaw_trace.api.read import ReadPool
from openclaw_trace.api.server import HttpServer, server_config
from openclaw_trace.collectors.system import SystemCollector
from openclaw_trace.config import Config, ConfigError, refuse_an_open_bind
from openclaw_trace.config_types import user_uid
from openclaw_trace.lifecycle import (
    Component,
    StopBudget,
    freeze_startup_objects,
    named_target,
    raise_open_files_limit,
)
from openclaw_trace.model import EventLimits
from openclaw_trace.otlp.decoder import OtlpDecoder
from openclaw_trace.pipeline.queue import IngestQueue
from openclaw_trace.pipeline.writer import BatchWriter, Writer, WriterStopped
from openclaw_trace.pipeline.writer_process import WriterProcess
from openclaw_trace.pricing import PriceTable, load_prices
from openclaw_trace.push.scheduler import PushScheduler
from openclaw_trace.stats import Stats
from openclaw_trace.storage import schema, writes
from openclaw_trace.storage.books_job import BooksJob
from openclaw_trace.storage.checkpointer import WalCheckpointer, writer_pass_due
from openclaw_trace.storage.connection import open_write_connection
from openclaw_trace.storage.lock import DatabaseInUse, DatabaseLock, LockFileError
from openclaw_trace.storage.upkeep import StorageUpkeep

log = logging.getLogger("openclaw_trace.daemon")

# Share of the stop deadline given to in-flight HTTP requests.
HTTP_GRACE_SHARE = 0.3

# The checkpointer waits this long for the writer to finish a checkpoint pass.
FINISH_CHECKPOINT_TIMEOUT_S = 5.0


def passive_if_still_due(queue: IngestQueue, wal_frames: int, conn: sqlite3.Connection) -> tuple[int, int, int] | None:
    """On the writer thread: the writer's PASSIVE pass, unless its queue has grown too deep meanwhile (None)."""
    if not writer_pass_due(queue.depth(), queue.capacity, wal_frames):
        return None
    return writes.checkpoint(conn, "PASSIVE")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket bound to ``host:port`` (port 0: any free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
        0
    ]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        # Listen now: connections made between the start-up log line and the
        # event loop's first accept wait in the backlog instead of being refused.
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


class StartError(Exception):
    """The daemon cannot start for a reason outside its settings (its database, its port).

    ``str()`` is the one line to print; it names what failed and the path or address.
    """


def path_problem(db_path: str, exc: OSError) -> str:
    """What an ``OSError`` met while preparing the database says, told by the file it happened to."""
    reason = exc.strerror or str(exc)
    where = None if exc.filename is None else str(exc.filename)
    if where is None or where == db_path:
        return reason
    if isinstance(exc, FileExistsError):  # mkdir met a file where a directory must be
        return f"{where} is not a directory"
    return f"cannot create the directory {where}: {reason}"


def lock_database(config: Config) -> DatabaseLock:
    """The database's lock, or ``StartError`` naming the daemon that holds it or what stopped us."""
    try:
        return DatabaseLock.acquire(config.db_path)
    except DatabaseInUse as exc:
        raise StartError(f"{exc}; stop it, or choose another database with OCT_DB_PATH or --db") from None
    except LockFileError as exc:
        raise StartError(f"cannot use database {config.db_path}: {exc}") from None
    except OSError as exc:  # its directory
        raise StartError(f"cannot use database {config.db_path}: {path_problem(config.db_path, exc)}") from None


def open_database(db_path: str) -> sqlite3.Connection:
    """The write connection with the schema migrated, or ``StartError`` saying what is wrong with the file."""
    try:
        conn = open_write_connection(db_path)
    except OSError as exc:
        raise StartError(f"cannot use database {db_path}: {path_problem(db_path, exc)}") from None
    except sqlite3.Error as exc:
        raise StartError(f"cannot use database {db_path}: {exc}") from None
    try:
        schema.migrate(conn)
    except (sqlite3.Error, RuntimeError) as exc:  # RuntimeError: written by a newer version
        conn.close()
        raise StartError(f"cannot use database {db_path}: {exc}") from None
    return conn


def listen(host: str, port: int) -> socket.socket:
    """``bind_socket``, or ``StartError`` naming the address (port in use, not ours to take)."""
    try:
        return bind_socket(host, port)
    except OSError as exc:
        raise StartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


class Daemon:
    """One running openclaw-trace. ``run()`` for the CLI; ``start()``/``stop()`` for tests."""

    def __init__(self, config: Config) -> None:
        self.config = config
        # Before anything opens a descriptor: every client connection needs one.
        self._open_files_limit = raise_open_files_limit()
        refuse_an_open_bind(config)
        self.stats = Stats()
        self.queue = IngestQueue(self.stats)
        try:
            prices = load_prices(config.prices_file)
        except ValueError as exc:
            raise ConfigError("OCT_PRICES_FILE", config.prices_file, str(exc)) from None
        # Before anything opens the database, so that a second daemon never
        # touches it (not even a close, which would drop the first one's SQLite locks).
        lock = lock_database(config)
        conn: sqlite3.Connection | None = None
        sock: socket.socket | None = None
        try:
            conn = open_database(config.db_path)
            # Bound now, so that a busy port fails before anything runs.
            sock = listen(config.host, config.port)
            self._assemble(config, lock, conn, sock, prices)
        except BaseException:
            for held in (sock, conn):
                if held is not None:
                    held.close()
            lock.release()
            raise

    def _assemble(
        self, config: Config, lock: DatabaseLock, conn: sqlite3.Connection, sock: socket.socket, prices: PriceTable
    ) -> None:
        """Build the parts around the locked database and the bound socket (nothing starts here)."""
        self._db_lock = lock
        self._sock = sock
        self.writer: Writer
        # The write connection, while this process holds it (thread mode; the final checkpoint).
        self._conn: sqlite3.Connection | None
        if config.writer == "process":
            # SQLite must not see a fork with a connection open: the child would inherit
            # its record of the file's locks without the locks (SQLITE_PROTOCOL).
            conn.close()
            self._conn = None
            self.writer = WriterProcess(config.db_path, self.queue, self.stats, config.scrub_secrets)
        else:
            # Checkpoints run on their own thread; the writer's commits never do one.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._conn = conn
            self.writer = BatchWriter(conn, self.queue, self.stats, config.scrub_secrets)
        self.checkpointer = WalCheckpointer(
            config.db_path,
            interval_s=config.wal_checkpoint_interval,
            restart_threshold_bytes=config.wal_restart_threshold_bytes,
            finish=self._finish_checkpoint,
            pass_due=lambda wal_frames: writer_pass_due(self.queue.depth(), self.queue.capacity, wal_frames),
            rows_written=self.stats.rows_written,
        )
        limits = EventLimits(max_text_bytes=config.max_text_bytes, prices=prices)
        self.ctx = AppContext(config=config, stats=self.stats, queue=self.queue, version=__version__, limits=limits)
        self.ctx.reads = ReadPool(config.db_path)
        self.ctx.otlp_decoder = OtlpDecoder(config.max_text_bytes, config.prices_file)
        grace_s = max(1, int(config.shutdown_timeout * HTTP_GRACE_SHARE))
        self._http_grace_s = float(grace_s)
        self._server = HttpServer(
            server_config(App(self.ctx), idle_timeout_s=config.idle_timeout, timeout_graceful_shutdown=grace_s),
            request_timeout_s=config.request_timeout,
            # http.late_requests (answered 408), http.stalled_responses (client not reading)
            count_closed=lambda reason, count: self.stats.count(f"http.{reason}", count),
        )
        self.components: list[Component] = self._build_components()
        self.ctx.components.extend(self.components)
        self._http_thread: threading.Thread | None = None
        self._stop_lock = threading.Lock()
        self._stop_budget = StopBudget(config.shutdown_timeout)
        self._drain_thread: threading.Thread | None = None
        self._queued_at_close = 0
        self._closed = False
        self.exit_code = 0

    def _build_components(self) -> list[Component]:
        """The background parts this configuration turns on, in start order."""
        components: list[Component] = []
        config = self.config
        components.append(
            SystemCollector(
                self.queue,
                self.stats,
                config.metrics_interval,
                config.db_path,
                gateway_pid_file=config.gateway_pid_file or None,
                gateway_name_patterns=tuple(config.gateway_process_pattern.split()),
            )
        )
        components.append(
            StorageUpkeep(
                self.writer,
                self.stats,
                config.db_path,
                interval_s=config.cleanup_interval,
                retention_days=config.retention_days,
                rollup_retention_days=config.rollup_retention_days,
                db_threshold_bytes=config.cleanup_db_threshold_bytes,
                disk_threshold_percent=config.cleanup_disk_threshold,
                checkpointer=self.checkpointer,
            )
        )
        components.append(BooksJob(self.writer, self.stats, self.queue.depth))
        if self.config.log_path:
            # Imported here so that with the setting empty nothing of the tailer is even loaded.
            from openclaw_trace.collectors.logs.tailer import LogTailer

            owners = [user_uid(self.config.log_owner)] if self.config.log_owner else []
            components.append(
                LogTailer(self.config.log_path, self.queue, self.config.db_path, self.ctx.limits, trusted_owners=owners)
            )
        # Last, so that it stops last: its final push runs after the drain.
        if self.config.push_endpoint:
            components.append(PushScheduler.from_config(self.config, self.writer, self.stats))
        else:
            log.info("push is off: OCT_PUSH_ENDPOINT is not set, stored rows stay on this host")
        return components

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    # -- running -----------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT, then stop gracefully. Main thread only."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        try:
            self._start_writer()
        except (RuntimeError, OSError, sqlite3.Error) as exc:  # e.g. the writer process could not start
            log.exception("start failed")
            self._shutdown()
            raise StartError(f"cannot start: {exc}") from None
        self._serve()
        self._shutdown()
        return self.exit_code

    def start(self, ready_timeout_s: float = 10.0) -> None:
        """Serve from a background thread (``oct-http``); returns once accepting."""
        self._start_writer()
        self._http_thread = threading.Thread(target=named_target(self._serve, "oct-http"), name="oct-http", daemon=True)
        self._http_thread.start()
        deadline = time.monotonic() + ready_timeout_s
        while not self._server.started:
            if not self._http_thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("HTTP server did not start")
            time.sleep(0.005)

    def stop(self) -> int:
        """Stop gracefully (idempotent); returns the exit code ``run`` would give."""
        self.request_stop()
        if self._http_thread is not None:
            self._http_thread.join(self._stop_budget.remaining_s())
        self._shutdown()
        return self.exit_code

    def request_stop(self) -> None:
        """Begin a graceful stop; safe from any thread or a signal handler.

        The drain runs on its own thread (``oct-stop``) while HTTP goes on
        answering; HTTP is told to stop once the queue is drained.
        """
        with self._stop_lock:
            if not self._stop_budget.begin():
                return
            log.info("stopping", extra={"fields": {"deadline_s": self.config.shutdown_timeout}})
            self._drain_thread = threading.Thread(
                target=named_target(self._drain_then_stop_http, "oct-stop"), name="oct-stop", daemon=True
            )
            self._drain_thread.start()

    def _drain_then_stop_http(self) -> None:
        """Stop the producers, close the queue, let the writer drain it; then let HTTP stop."""
        try:
            for component in self.components:
                if not component.stop_after_drain:
                    self._stop_component(component, self._stop_budget.share(1 / 3))
            self._queued_at_close = self.queue.depth()
            self.queue.close()
            # HTTP's grace for in-flight requests is kept back too.
            self.writer.flush(self._stop_budget.for_step("drain", also_reserved_s=self._http_grace_s))
        except Exception:  # a stop must go on whatever a part did
            log.exception("draining the queue failed")
        finally:
            self._server.should_exit = True

    def _finish_checkpoint(self, wal_frames: int) -> bool:
        """One PASSIVE checkpoint on the writer thread, between two batches; False if it did not run.

        The checkpointer asked because the queue was shallow; by the time the
        writer gets to it, a batch or more later, it may not be. A writer in
        this process asks its queue again then (a pass of 4-11 ms that starts
        with 200-360 events queued fills the 512 slots at 45k events/s). The
        writer process cannot see the queue and runs it as asked.
        """
        task: Callable[[sqlite3.Connection], tuple[int, int, int] | None]
        if isinstance(self.writer, BatchWriter):
            task = functools.partial(passive_if_still_due, self.queue, wal_frames)
        else:
            task = functools.partial(writes.checkpoint, mode="PASSIVE")
        try:
            ran = self.writer.call(task, FINISH_CHECKPOINT_TIMEOUT_S, transaction=False)
        except (WriterStopped, TimeoutError, sqlite3.Error) as exc:
            log.debug("writer-side checkpoint did not run: %s", exc)
            return False
        return ran is not None

    def _final_checkpoint(self) -> None:
        """Copy the WAL back and truncate it, on the writer's connection (after the writer stopped)."""
        try:
            conn = self._conn or open_write_connection(self.config.db_path)
        except (sqlite3.Error, OSError) as exc:
            log.warning("final WAL checkpoint failed: %s", exc)
            return
        try:
            writes.checkpoint(conn, "TRUNCATE")
        except sqlite3.Error as exc:
            log.warning("final WAL checkpoint failed: %s", exc)
        finally:
            conn.close()
            self._conn = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_budget.started_at is not None:
            log.warning("already stopping; signal %s ignored", signal.Signals(signum).name)
            return
        self.request_stop()

    def _start_writer(self) -> None:
        self.writer.start()
        self.checkpointer.start()
        for component in self.components:
            component.start()
        # After the writer's start: a writer process unfreezes what it froze for its fork.
        frozen = freeze_startup_objects()
        log.info(
            "openclaw-trace started",
            extra={
                "fields": {
                    "version": __version__,
                    "settings": self.config.masked(),
                    "db_path": self.config.db_path,
                    "listen": self.url,
                    "unsynced_rows": self.stats.snapshot().unsynced,
                    "writer": self.config.writer,
                    "frozen_objects": frozen,
                    "open_files_limit": self._open_files_limit,
                }
            },
        )

    def _serve(self) -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(self._serve_http())

    async def _serve_http(self) -> None:
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            if self.ctx.otlp_decoder is not None:  # on the loop it lives on, once no request awaits it
                await self.ctx.otlp_decoder.stop()

    # -- stopping ----------------------------------------------------------

    def _stop_component(self, component: Component, timeout_s: float) -> None:
        try:
            if not component.stop(timeout_s):
                log.warning("%s did not stop within %.1fs", component.name, timeout_s)
        except Exception:
            log.exception("%s failed to stop", component.name)

    def _shutdown(self) -> None:
        with self._stop_lock:
            if self._closed:
                return
            self._closed = True
            self._stop_budget.begin()  # HTTP ended on its own (it failed): the clock starts now
        try:
            self._close_parts()
        finally:
            # Last, once the database is closed, so that the next daemon finds it free. (A
            # writer past the deadline may still write until this process exits; SQLite's
            # own locks keep that safe beside a newcomer.)
            self._db_lock.release()

    def _close_parts(self) -> None:
        """Drain, stop every part, checkpoint and close; once, from ``_shutdown``."""
        self._sock.close()
        if self._drain_thread is not None:
            self._drain_thread.join(self._stop_budget.remaining_s())
        else:  # HTTP ended without a stop request (it failed): drain here
            self._drain_then_stop_http()
        queued = self._queued_at_close
        for component in self.components:
            if component.stop_after_drain:
                self._stop_component(component, self._stop_budget.for_step("parts_after_drain"))
        if self.ctx.reads is not None:
            self.ctx.reads.close()  # HTTP has stopped: no read is waiting for it
        drained = self.writer.stop(self._stop_budget.for_step("writer"))
        self.checkpointer.stop(self._stop_budget.for_step("checkpointer"))
        lost = self.queue.depth()
        if drained:
            self._final_checkpoint()
        else:
            # The writer still owns the connection; SQLite keeps what was committed.
            self.exit_code = 1
            log.error("writer did not drain before the deadline", extra={"fields": {"lost": lost}})
        snapshot = self.stats.snapshot()
        # Events still held at the deadline are lost with the process: count them.
        dropped_by_reason = snapshot.dropped_by_reason()
        dropped_by_reason["shutdown"] += lost
        log.info(
            "openclaw-trace stopped",
            extra={
                "fields": {
                    "drained_events": queued - lost,
                    "stop_duration_s": round(self._stop_budget.elapsed_s(), 3),
                    "events_received": snapshot.events_received,
                    "events_written": snapshot.events_written,
                    "events_dropped": snapshot.events_dropped + lost,
                    "dropped_by_reason": dropped_by_reason,
                    "events_lost_at_deadline": lost,
                }
            },
        )
