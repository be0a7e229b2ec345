-- wrk script: POST one JSON body per request, cycling through a file of bodies (one a line),
-- and print the figures as one JSON line at the end.
-- Usage: wrk ... -s post.lua URL -- PATH BODIES_FILE

local requests = {}
local next_index = 0

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(args[2]) do
    requests[#requests + 1] = wrk.format("POST", args[1], headers, line)
  end
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
