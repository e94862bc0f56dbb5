# openclaw-trace in a container. How to run it, and beside a gateway with compose:
# docs/deploy.md ("In a container"). Build from the repository root:
#   docker build -t openclaw-trace .

# The wheel is built here, so that neither the source nor the build tools reach the image.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src/ src/
# The OpenClaw plugin ships inside the package (src/openclaw_trace/openclaw_plugin links here).
COPY integrations/openclaw/ integrations/openclaw/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The daemon's user. To tail the gateway's log it must be the gateway's user (OpenClaw
# writes the log mode 0600): build with --build-arg TRACE_UID=<the gateway's uid>
# (deploy/compose.yaml passes 1000, the official gateway image's `node` user).
ARG TRACE_UID=10001
RUN groupadd --system --gid "${TRACE_UID}" openclaw-trace \
    && useradd --system --uid "${TRACE_UID}" --gid openclaw-trace \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin openclaw-trace \
    && mkdir /data \
    && chown openclaw-trace:openclaw-trace /data \
    && chmod 0700 /data

# The runtime dependencies only (no dev extras).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir /wheels/*.whl

# The database on a volume; a new named volume takes /data's owner from the image.
VOLUME ["/data"]
ENV OCT_DB_PATH=/data/openclaw-trace.db

# Listen on every interface: in a container, 127.0.0.1 is the container's own loopback,
# which neither the gateway's container nor a published port can reach. Off loopback
# the daemon refuses to start (exit 2, one line naming OCT_HOST) unless OCT_READ_TOKEN
# is set, and OCT_INGEST_TOKEN too (or OCT_ALLOW_OPEN=true). That refusal is meant:
# pass the tokens with --env-file. Sharing the gateway's network namespace instead
# (--network container:<gateway>), set OCT_HOST=127.0.0.1 and no token is needed.
ENV OCT_HOST=0.0.0.0
EXPOSE 9090

# Numeric, so that a runtime (Kubernetes runAsNonRoot) can tell it is not root.
USER ${TRACE_UID}:${TRACE_UID}

# Healthy while the daemon answers /health with "ok" or "degraded". `openclaw-trace
# status` exits 1 for both "degraded" and "error", but degraded (a push endpoint down,
# a queue-full burst in the last minute, a refused log file) is not cured by a restart,
# which tools that act on health would do; "error" (the writer is dead or the database
# fails) and no answer are. The status word is printed for `docker inspect`.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import json, subprocess, sys; r = subprocess.run(['openclaw-trace', 'status', '--json'], capture_output=True, text=True); s = json.loads(r.stdout)['status'] if r.stdout.strip() else 'no answer: ' + r.stderr.strip(); print(s); sys.exit(s not in ('ok', 'degraded'))"]

# SIGTERM drains the queue into SQLite within OCT_SHUTDOWN_TIMEOUT (15 s), more than
# Docker's default 10 s before SIGKILL: run with --stop-timeout 30 (compose:
# stop_grace_period: 30s).
ENTRYPOINT ["openclaw-trace"]
CMD ["serve"]
