-- One chat completion per request: a ~1 KB body, streamed when STREAM=1.
-- MODEL is the name the target knows (the simulator's own, or the gateway's virtual one).
local model = os.getenv("MODEL") or "sim-model"
local stream = os.getenv("STREAM") == "1"
local tokens = stream and 64 or 16
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if (os.getenv("AUTH") or "") ~= "" then wrk.headers["Authorization"] = "Bearer " .. os.getenv("AUTH") end
wrk.body = '{"model":"' .. model .. '","max_tokens":' .. tokens ..
  (stream and ',"stream":true,"stream_options":{"include_usage":true}' or '') ..
  ',"messages":[{"role":"system","content":"You are a helpful assistant that answers briefly."},' ..
  '{"role":"user","content":"' .. string.rep("lorem ipsum dolor sit amet ", 34) .. '"}]}'
