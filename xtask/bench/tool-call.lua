-- wrk script: POST one trivial tool call per request. STOCKADE_TOKEN and STOCKADE_DELAY_MS
-- come from the environment; a delay turns wrk's closed loop into a paced one (for the
-- "half load" latency figure). The pause after each response is drawn from an exponential
-- distribution with that mean, so the connections' requests arrive like independent clients'
-- (Poisson) instead of in lock-step bursts: a fixed pause makes all 64 connections fire
-- together after each slow response, which measures the burst, not the server at half load.
wrk.method = "POST"
wrk.path = "/v1/projects/bench/tool-calls"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("STOCKADE_TOKEN")
wrk.body = '{"agent":"bench","tool":"trivial.noop","input":{}}'

local pause = tonumber(os.getenv("STOCKADE_DELAY_MS") or "0")

math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))

function delay()
  if pause == 0 then
    return 0
  end
  return math.floor(-math.log(1 - math.random()) * pause + 0.5)
end

local bad = 0
function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
    end
  end
end

function done(summary, latency, requests)
  io.write(string.format("STOCKADE rps=%.1f p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
