-- wrk script: REST start (POST /v1/auth/otp/signup-in/email) with a
-- distinct login id per request, for a project with its limits off.
--   OTPD_PROJECT_ID=P2otpdLoadTest0000000000000 \
--     wrk -t2 -c50 -d10s --latency -s loadtest/start.lua http://127.0.0.1:8080
-- Login ids: lt-<run>-<thread>-<n>@loadtest.example (<run> differs per run).
local threads = 0
setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
init = function(args)
  project = os.getenv("OTPD_PROJECT_ID") or error("set OTPD_PROJECT_ID")
  run = string.format("%x", os.time())
  n = 0
end
request = function()
  n = n + 1
  local body = '{"loginId":"lt-' .. run .. '-' .. tid .. '-' .. n .. '@loadtest.example"}'
  return wrk.format("POST", "/v1/auth/otp/signup-in/email",
    {["Authorization"] = "Bearer " .. project, ["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("non-2xx or errors: %d status, %d connect, %d read, %d timeout\n",
    e.status, e.connect, e.read, e.timeout))
end
