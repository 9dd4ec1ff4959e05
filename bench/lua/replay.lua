-- Replay: the same request with the same Idempotency-Key, again and again.
-- args: consultation_id key
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

function init(args)
  local cid = args[1]
  wrk.method = "POST"
  wrk.path = "/api/v1/payments"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer cck_bench_" .. cid
  wrk.headers["Idempotency-Key"] = args[2]
  wrk.body = '{"consultation_id":' .. cid .. ',"payment_method":"gcash"}'
end
