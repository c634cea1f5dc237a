-- POST /api/{user}/tasks for BENCH_USERS in turn, each with its own token (BENCH_TOKENS): a
-- multi-user app's creates, each one in flight for an account of its own (64 accounts, 32
-- connections), where create.lua sends every create for one account.
local bench = require "common"

local users, tokens = bench.list("BENCH_USERS"), bench.list("BENCH_TOKENS")
local indexes = {}
for i = 1, #users do indexes[i] = i end
local next_index = bench.rotation(indexes)
local n = 0

function request()
  local i = next_index()
  n = n + 1
  local body = '{"title":"Benchmark task ' .. n .. '","priority":"high","tags":["bench"]}'
  local headers = {
    ["Authorization"] = "Bearer " .. tokens[i],
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", "/api/" .. users[i] .. "/tasks", headers, body)
end
