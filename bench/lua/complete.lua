-- PATCH /api/{user}/tasks/{id}/complete with no body (toggles), rotating among BENCH_IDS.
local bench = require "common"

local next_id = bench.rotation(bench.list("BENCH_IDS"))

function request()
  return wrk.format("PATCH", bench.tasks_path("/" .. next_id() .. "/complete"), bench.auth)
end
