-- Shared by every workload script (loaded with require "common"; bench/load.py sets LUA_PATH).
-- Reads the run's settings from the environment, counts answers by status class in each thread,
-- and prints one JSON line of results for bench/run.py from done().
local M = {}

M.user = os.getenv("BENCH_USER") or ""
M.token = os.getenv("BENCH_TOKEN") or ""
M.auth = { ["Authorization"] = "Bearer " .. M.token }
M.json_auth = { ["Authorization"] = "Bearer " .. M.token, ["Content-Type"] = "application/json" }

function M.list(name)
  local items = {}
  for item in string.gmatch(os.getenv(name) or "", "[^,]+") do
    items[#items + 1] = item
  end
  return items
end

function M.tasks_path(suffix)
  return "/api/" .. M.user .. "/tasks" .. (suffix or "")
end

-- The next item of a list, in turn; threads start at different places (thread_index is set
-- after the script loads, so the start is chosen on the first call).
function M.rotation(items)
  local n
  return function()
    n = (n or (thread_index or 1) * 7919) + 1
    return items[n % #items + 1]
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_index", #threads)
end

function init(args)
  math.randomseed((thread_index or 1) * 7919 + os.time())
  c2, c3, c4, c5 = 0, 0, 0, 0
  sample = ""
end

function response(status, headers, body)
  if status < 300 then
    c2 = c2 + 1
  elseif status < 400 then
    c3 = c3 + 1
  else
    if status < 500 then c4 = c4 + 1 else c5 = c5 + 1 end
    if sample == "" then
      sample = status .. " " .. string.sub(body or "", 1, 400)
    end
  end
end

local function quote(text)
  return '"' .. string.gsub(text, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local c = { 0, 0, 0, 0 }
  local first = ""
  for _, thread in ipairs(threads) do
    c[1] = c[1] + (thread:get("c2") or 0)
    c[2] = c[2] + (thread:get("c3") or 0)
    c[3] = c[3] + (thread:get("c4") or 0)
    c[4] = c[4] + (thread:get("c5") or 0)
    if first == "" then first = thread:get("sample") or "" end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"status":{"2xx":%d,"3xx":%d,"4xx":%d,"5xx":%d},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"sample":%s}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, c[1], c[2], c[3], c[4],
    e.connect, e.read, e.write, e.timeout, quote(first)))
end

return M
