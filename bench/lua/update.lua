-- PATCH /api/{user}/tasks/{id} with a one-field body, rotating among BENCH_IDS.
local bench = require "common"

local next_id = bench.rotation(bench.list("BENCH_IDS"))
local priorities = { "low", "medium", "high" }
local n = 0

function request()
  n = n + 1
  local body = '{"priority":"' .. priorities[n % 3 + 1] .. '"}'
  return wrk.format("PATCH", bench.tasks_path("/" .. next_id()), bench.json_auth, body)
end
