-- GET /api/{user}/tasks?<BENCH_QUERY>: list 20, list 50, and the cursor page at depth 9,000.
local bench = require "common"

local query = os.getenv("BENCH_QUERY") or "limit=20"
local prepared

function request()
  prepared = prepared or wrk.format("GET", bench.tasks_path("?" .. query), bench.auth)
  return prepared
end
