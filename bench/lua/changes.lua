-- GET /api/{user}/changes?<BENCH_QUERY>: a page of the account's latest changes.
local bench = require "common"

local query = os.getenv("BENCH_QUERY") or ""
local prepared

function request()
  prepared = prepared or wrk.format("GET", "/api/" .. bench.user .. "/changes?" .. query, bench.auth)
  return prepared
end
