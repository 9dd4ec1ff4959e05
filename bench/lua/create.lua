-- Create: one POST /api/v1/payments per consultation, each consultation used once.
-- args: first_id count threads key_tag
-- Consultation i belongs to user i, whose token is cck_bench_<i> (see bench/seed.py).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local first, count, stride, tag, n

function init(args)
  first = tonumber(args[1])
  count = tonumber(args[2])
  stride = tonumber(args[3])
  tag = args[4]
  n = 0
end

function request()
  local offset = (tid - 1) + n * stride
  n = n + 1
  if offset >= count then
    -- Out of fresh consultations: a repeat would be a 409, so it is counted and reported.
    wrapped = wrapped + 1
    offset = offset % count
  end
  local cid = first + offset
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer cck_bench_" .. cid,
    ["Idempotency-Key"] = tag .. "-" .. cid,
  }
  local body = '{"consultation_id":' .. cid .. ',"payment_method":"gcash"}'
  return wrk.format("POST", "/api/v1/payments", headers, body)
end
