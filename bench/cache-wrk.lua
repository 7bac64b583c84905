-- wrk script for bench/cache.sh (W7; run by hand, never in CI).
-- Rotates over BENCH_OBJECTS URLs, /obj/0 … /obj/N-1, on keep-alive connections.
--
-- Environment:
--   BENCH_PREFIX   "" when wrk talks to the origin directly, or "http://127.0.0.1:PORT"
--                  when it talks to a forward proxy (absolute-form, RFC 9112 §3.2.2).
--   BENCH_HOST     Host header (the origin's host:port).
--   BENCH_OBJECTS  how many objects (default 1000).
--   BENCH_OUT      file the summary is written to as one JSON object.

local prefix = os.getenv("BENCH_PREFIX") or ""
local host = os.getenv("BENCH_HOST")
local objects = tonumber(os.getenv("BENCH_OBJECTS") or "1000")
local out = os.getenv("BENCH_OUT")

local paths = {}
for i = 0, objects - 1 do
  paths[i + 1] = prefix .. "/obj/" .. i
end

local counter = 0
local headers = {}
if host and host ~= "" then headers["Host"] = host end

function setup(thread)
  -- Each thread starts at a different place in the rotation.
  thread:set("start", math.random(0, objects - 1))
end

function init(args)
  -- thread:set() in setup() made `start` a global of this thread's Lua state.
  counter = tonumber(start or 0) or 0
end

function request()
  counter = (counter % objects) + 1
  return wrk.format("GET", paths[counter], headers)
end

local function num(x)
  if x == nil or x ~= x then return 0 end
  return x
end

function done(summary, latency, requests)
  local e = summary.errors
  local json = string.format(
    '{"tool":"wrk","requests":%d,"bytes":%d,"duration_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"max":%d,"p50":%d,"p99":%d}}',
    summary.requests, summary.bytes, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    num(latency.mean), num(latency.max), num(latency:percentile(50)), num(latency:percentile(99)))
  if out and out ~= "" then
    local f = assert(io.open(out, "w"))
    f:write(json, "\n")
    f:close()
  else
    io.write(json, "\n")
  end
end
