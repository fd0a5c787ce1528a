-- Drives one scenario for bench/run.py. The request comes from environment variables so that one
-- script serves every scenario; done() prints a single machine-readable line with the results.
--   BENCH_METHOD         GET, POST, ...            (default GET)
--   BENCH_AUTHORIZATION  value of the Authorization header, if any
--   BENCH_BODY           request body, if any (sent as application/json)
--   BENCH_HEADER         one more header as "Name: value", if any (e.g. OpenBao's X-Vault-Token)

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
local extra = os.getenv("BENCH_HEADER")
if extra and extra ~= "" then
  local name, value = extra:match("^([^:]+):%s*(.*)$")
  if name then
    wrk.headers[name] = value
  end
end
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"latency_us":{"p50":%d,"p90":%d,"p99":%d,' ..
    '"mean":%.1f,"max":%d},"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
