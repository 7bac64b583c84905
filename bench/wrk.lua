-- wrk script for bench/run.sh (run by hand, never in CI).
--
-- Environment:
--   BENCH_PATH   request target: "/1k" when wrk talks to the origin directly, or an
--                absolute URI ("http://127.0.0.1:PORT/1k") when wrk is pointed at a
--                forward proxy (RFC 9112 §3.2.2 absolute-form).
--   BENCH_HOST   Host header to send (the origin's host:port). wrk would otherwise
--                send the address it connects to, i.e. the proxy's.
--   BENCH_CLOSE  "1": send "Connection: close" so every request uses a new client
--                connection (workload W4). wrk reconnects when the response says close.
--   BENCH_OUT    file the summary is written to as one JSON object.
--   BENCH_PROXY_AUTH  a Proxy-Authorization value sent on every request ("Basic ...";
--                bench/auth-w1.sh).

local path = os.getenv("BENCH_PATH") or "/"
local host = os.getenv("BENCH_HOST")
local close = os.getenv("BENCH_CLOSE") == "1"
local out = os.getenv("BENCH_OUT")

wrk.method = "GET"
wrk.path = path
if host and host ~= "" then
  wrk.headers["Host"] = host
end
if close then
  wrk.headers["Connection"] = "close"
end
local proxy_auth = os.getenv("BENCH_PROXY_AUTH")
if proxy_auth and proxy_auth ~= "" then
  wrk.headers["Proxy-Authorization"] = proxy_auth
end

local function num(x)
  if x == nil or x ~= x then return 0 end -- nil or NaN
  return x
end

function done(summary, latency, requests)
  local e = summary.errors
  local json = string.format(
    '{"tool":"wrk","requests":%d,"bytes":%d,"duration_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}',
    summary.requests, summary.bytes, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    num(latency.mean), num(latency.stdev), num(latency.max),
    num(latency:percentile(50)), num(latency:percentile(90)),
    num(latency:percentile(99)), num(latency:percentile(99.9)))
  if out and out ~= "" then
    local f = assert(io.open(out, "w"))
    f:write(json, "\n")
    f:close()
  else
    io.write(json, "\n")
  end
end
