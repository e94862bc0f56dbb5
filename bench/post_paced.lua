-- wrk script: bench/post.lua paced to a fixed request rate per wrk thread.
--
-- Usage: wrk ... -s bench/post_paced.lua URL -- BODY_FILE CONTENT_TYPE RATE_PER_THREAD
--
-- wrk calls delay() before every request on a connection and waits that many
-- whole milliseconds. A fixed per-connection delay would add the response
-- time and the rounding to every period and so under-offer; instead each
-- thread hands out send slots on an open-loop schedule (slot n at
-- start + n / rate) to whichever of its connections is free. The rate holds
-- while some connection is idle; when the server is so slow that all are
-- busy, fewer requests go out, and bench/run.py reports the achieved rate,
-- never the asked one. Sends still happen in bursts on 1 ms timer ticks.
--
-- Coordinated omission: wrk starts a request's clock when it writes it, not
-- at its slot. During a server stall the requests that could not be sent are
-- not counted as waiting, so paced p99 figures are a lower bound on what a
-- client on a fixed schedule would see (wrk2 would correct for this; Debian
-- ships wrk).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "post.lua")

local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } oct_bench_timespec;
  int clock_gettime(int clock_id, oct_bench_timespec *ts);
]])
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("oct_bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

-- How far behind schedule a thread may fall and still catch up in a burst,
-- as an open-loop client would. Slots older than this are given up.
local MAX_LAG_MS = 1000

local interval_ms = 1
local next_slot_ms = nil

function init_pacing(args)
  local rate = assert(tonumber(args[3]), "RATE_PER_THREAD missing")
  assert(rate > 0, "RATE_PER_THREAD must be > 0; use post.lua to go flat out")
  interval_ms = 1000 / rate
end

function delay()
  local now = now_ms()
  if next_slot_ms == nil or next_slot_ms < now - MAX_LAG_MS then
    next_slot_ms = now
  end
  next_slot_ms = next_slot_ms + interval_ms
  local wait = next_slot_ms - now
  if wait <= 0 then
    return 0
  end
  return math.floor(wait + 0.5)
end
