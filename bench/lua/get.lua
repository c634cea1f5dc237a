-- GET /api/{user}/tasks/{id}, rotating among BENCH_IDS.
local bench = require "common"

local next_id = bench.rotation(bench.list("BENCH_IDS"))

function request()
  return wrk.format("GET", bench.tasks_path("/" .. next_id()), bench.auth)
end
