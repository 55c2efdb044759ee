-- For bench/tools.ts runWrk: wrk's totals as one JSON line after the text report.
-- With WRK_PUT_PREFIX set (e.g. "/kv/bench.w"), every request is a PUT of a new key under that prefix
-- with the JSON body the autocannon PUT sends; without it, wrk's own static GET (no Lua per request).
local prefix = os.getenv("WRK_PUT_PREFIX")
if prefix and prefix ~= "" then
  local n = 0
  local body = '{"value":{"user":"someone","score":42,"tags":["a","b"],"active":true}}'
  function request()
    n = n + 1
    return wrk.format("PUT", prefix .. n, nil, body)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"socket_errors":%d,"non2xx":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
