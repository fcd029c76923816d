-- wrk script for bench:writes: exactly N `POST /v1/ports` (distinct names) into one network over wrk's keep-alive
-- connections; once all N have answered it prints a line, which bench/writes.ts waits for (wrk itself runs for its -d
-- duration whatever the script does; the bench stops it). Arguments (after `--`): network, name prefix, N. Run with
-- one thread (-t 1): the counts are per thread.
--
-- wrk is a C load generator: the load costs the 2-core machine a fraction of what a Node client costs, so this row
-- shows what the API servers do when the client is not competing for the cores.

local granted, sent, answered, created = 0, 0, 0, 0
local statuses = {}
-- wrk calls request() once before the run, on the first thread's state, to count the requests in what it returns
-- (pipelining); that text is never sent.
local verified = false

function init(args)
  network = args[1]
  prefix = args[2]
  total = tonumber(args[3])
end

-- wrk asks this before each request of a connection (its first included) and sends one request when the delay is
-- over: each 0 returned is one request to come. Once N are granted every connection is held for good, so nothing
-- beyond N is sent.
function delay()
  if granted >= total then return 3600000 end
  granted = granted + 1
  return 0
end

local function post(name)
  local body = string.format('{"name":"%s","network":"%s"}', name, network)
  return wrk.format("POST", "/v1/ports", { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }, body)
end

function request()
  if not verified then
    verified = true
    return post(prefix .. "-unsent")
  end
  sent = sent + 1
  if sent > total then error("wrk-ports: request " .. sent .. " of " .. total) end
  return post(prefix .. "-" .. sent)
end

function response(status, headers, body)
  answered = answered + 1
  if status == 201 then
    created = created + 1
  else
    statuses[status] = (statuses[status] or 0) + 1
  end
  if answered == total then
    for s, n in pairs(statuses) do io.write(string.format("wrk-ports: status %d x %d\n", s, n)) end
    io.write(string.format("wrk-ports: answered %d created %d\n", answered, created))
    io.flush()
  end
end
