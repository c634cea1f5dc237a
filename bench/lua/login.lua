-- POST /api/auth/login with the right password, rotating among BENCH_EMAILS: one account per
-- request in flight, so the per-email limit on failed attempts (charged before the check) holds.
local bench = require "common"

local next_email = bench.rotation(bench.list("BENCH_EMAILS"))
local password = os.getenv("BENCH_PASSWORD") or ""
local headers = { ["Content-Type"] = "application/json" }

function request()
  local body = '{"email":"' .. next_email() .. '","password":"' .. password .. '"}'
  return wrk.format("POST", "/api/auth/login", headers, body)
end
