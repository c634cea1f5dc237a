-- POST /api/{user}/tasks: a small task, tagged "bench" so the run can remove it afterwards.
local bench = require "common"

local n = 0

function request()
  n = n + 1
  local body = '{"title":"Benchmark task ' .. n .. '","priority":"high","tags":["bench"]}'
  return wrk.format("POST", bench.tasks_path(), bench.json_auth, body)
end
