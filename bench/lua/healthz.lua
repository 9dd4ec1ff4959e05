-- Ceiling: GET /healthz, a trivial endpoint of the same app and server.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "GET"
wrk.path = "/healthz"
