-- wrk script for scripts/bench-peers.sh: every request is one MCP `tools/call`.
-- Arguments (after `--`): tool name, arguments as JSON, bearer token (`-` for none),
-- then the session ids to spread the requests over (none for stateless servers).
-- Prints one `WRK ...` line the bench script parses.

local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("tid", next_thread)
end

local tool, arguments, sessions, base
local counter = 0

function init(args)
  tool = args[1]
  arguments = args[2]
  sessions = {}
  for i = 4, #args do
    sessions[#sessions + 1] = args[i]
  end
  base = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["Host"] = wrk.headers["Host"],
  }
  if args[3] ~= "-" then
    base["Authorization"] = "Bearer " .. args[3]
  end
end

function request()
  counter = counter + 1
  -- wrk.format does not merge header tables: every request carries the full set.
  local headers = {}
  for k, v in pairs(base) do
    headers[k] = v
  end
  if #sessions > 0 then
    headers["Mcp-Session-Id"] = sessions[(counter % #sessions) + 1]
  end
  local body = string.format(
    '{"jsonrpc":"2.0","id":"%d-%d","method":"tools/call","params":{"name":"%s","arguments":%s}}',
    tid, counter, tool, arguments)
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
