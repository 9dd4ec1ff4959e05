-- Shared by every scenario script: counts statuses per thread, prints one JSON summary line.
-- Each script defines request() or sets a static wrk.method/path/body.

local threads = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

counts = {}
replayed = 0
wrapped = 0
-- Think time between a connection's requests (the isolation scenario's steady traffic).
-- Only defined when wanted: wrk schedules a timer per request whenever delay() exists.
local think_ms = tonumber(os.getenv("BENCH_THINK_MS") or "0")
if think_ms > 0 then
  function delay()
    return think_ms
  end
end

function response(status, headers, body)
  local key = tostring(status)
  counts[key] = (counts[key] or 0) + 1
  if headers["Idempotent-Replayed"] == "true" then
    replayed = replayed + 1
  end
end

local function encode(value)
  if type(value) == "table" then
    local parts = {}
    for k, v in pairs(value) do
      table.insert(parts, string.format("%q:%s", tostring(k), encode(v)))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return tostring(value)
end

function done(summary, latency, requests)
  local statuses, total_replayed, total_wrapped = {}, 0, 0
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("counts") or {}) do
      statuses[code] = (statuses[code] or 0) + n
    end
    total_replayed = total_replayed + (thread:get("replayed") or 0)
    total_wrapped = total_wrapped + (thread:get("wrapped") or 0)
  end
  local errors = summary.errors
  local out = {
    requests = summary.requests,
    duration_us = summary.duration,
    p50_us = latency:percentile(50),
    p95_us = latency:percentile(95),
    p99_us = latency:percentile(99),
    max_us = latency.max,
    mean_us = latency.mean,
    socket_errors = errors.connect + errors.read + errors.write + errors.timeout,
    timeouts = errors.timeout,
    statuses = statuses,
    replayed = total_replayed,
    wrapped = total_wrapped,
  }
  io.write("BENCH_JSON " .. encode(out) .. "\n")
end
