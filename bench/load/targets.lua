-- wrk script: spread requests over workspaces (Host header), signed in, with an optional
-- share of writes. Environment: QUIRE_TARGETS (file of "host cookie csrf" lines),
-- QUIRE_WRITE_SHARE (0..1).
local targets = {}
local write_share = tonumber(os.getenv("QUIRE_WRITE_SHARE") or "0")
local counter = 0

function init(args)
  for line in io.lines(os.getenv("QUIRE_TARGETS")) do
    local host, cookie, csrf = line:match("^(%S+) (%S+) (%S+)$")
    table.insert(targets, {host = host, cookie = cookie, csrf = csrf})
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  counter = counter + 1
  local target = targets[math.random(#targets)]
  -- A new connection per request, as with the reference's sync workers: kept-alive
  -- connections stay on the worker that accepted them, and an uneven share left workers
  -- idle for whole measurements.
  local headers = {Host = target.host, Cookie = target.cookie, Connection = "close"}
  if math.random() < write_share then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    local body = "csrfmiddlewaretoken=" .. target.csrf .. "&title=load+" .. counter .. "&body=written+under+load"
    return wrk.format("POST", "/posts/new/", headers, body)
  end
  return wrk.format("GET", "/", headers)
end

function done(summary, latency, requests)
  io.write(string.format("QUIRE_RESULT %d %d %d %d %d %d\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), summary.duration))
end
