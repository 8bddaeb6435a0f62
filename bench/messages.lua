-- The conversation of chat.lua in Anthropic's Messages API: system prompt at the top level,
-- max_tokens required; streamed when STREAM=1.
local model = os.getenv("MODEL") or "sim-model"
local stream = os.getenv("STREAM") == "1"
local tokens = stream and 64 or 16
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.body = '{"model":"' .. model .. '","max_tokens":' .. tokens ..
  (stream and ',"stream":true' or '') ..
  ',"system":"You are a helpful assistant that answers briefly.",' ..
  '"messages":[{"role":"user","content":"' .. string.rep("lorem ipsum dolor sit amet ", 34) .. '"}]}'
