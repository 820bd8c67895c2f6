-- sim-wrk.lua - wrk script for bench/sim-wrk.sh: sends the simulator's
-- Bearer token (SIM_TOKEN) with every request, on keep-alive connections.
local token = os.getenv("SIM_TOKEN") or "bench-token"
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. token
