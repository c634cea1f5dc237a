-- 70% reads, 30% writes on one user: 35% list 20, 35% get, 10% create, 10% update, 10% complete.
local bench = require "common"

local next_id = bench.rotation(bench.list("BENCH_IDS"))
local n = 0

function request()
  n = n + 1
  local roll = math.random(100)
  if roll <= 35 then
    return wrk.format("GET", bench.tasks_path("?limit=20"), bench.auth)
  elseif roll <= 70 then
    return wrk.format("GET", bench.tasks_path("/" .. next_id()), bench.auth)
  elseif roll <= 80 then
    local body = '{"title":"Mixed task ' .. n .. '","tags":["bench"]}'
    return wrk.format("POST", bench.tasks_path(), bench.json_auth, body)
  elseif roll <= 90 then
    local body = '{"title":"Renamed ' .. n .. '"}'
    return wrk.format("PATCH", bench.tasks_path("/" .. next_id()), bench.json_auth, body)
  end
  return wrk.format("PATCH", bench.tasks_path("/" .. next_id() .. "/complete"), bench.auth)
end
