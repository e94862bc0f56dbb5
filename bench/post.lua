-- wrk script: POST one prepared JSON body to the daemon as fast as wrk can.
--
-- Usage: wrk ... -s bench/post.lua URL -- BODY_FILE CONTENT_TYPE
--   BODY_FILE     the request body, written by bench/payloads.py
--   CONTENT_TYPE  its media type (application/json, application/x-protobuf)
--
-- The request is static (no request() function), so wrk formats it once per
-- thread and spends no Lua time per request. bench/post_paced.lua loads this
-- file and adds pacing.

function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = args[2]
  if init_pacing ~= nil then
    init_pacing(args)
  end
end

-- One JSON line for bench/loadgen.py. done() runs once, in wrk's main Lua
-- state; latencies are in microseconds, measured from the request's write.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'OCT_BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean
  ))
end
