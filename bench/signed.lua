-- Replays pre-signed Meta deliveries, one per line "<signature> <body>" from the file in BODIES,
-- starting at line OFFSET so that every run sends deliveries never sent before.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local sigs, bodies, i = {}, {}, 0
init = function(args)
  local offset = tonumber(args[1] or "0")
  local n = 0
  for line in io.lines(os.getenv("BODIES")) do
    n = n + 1
    if n > offset then
      local s, b = line:match("^(%S+) (.*)$")
      sigs[#sigs + 1] = s
      bodies[#bodies + 1] = b
    end
  end
end
request = function()
  i = i % #bodies + 1
  wrk.headers["X-Hub-Signature-256"] = sigs[i]
  return wrk.format(nil, "/webhooks/meta", nil, bodies[i])
end
