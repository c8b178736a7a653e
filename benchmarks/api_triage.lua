-- wrk script: POST /v1/triage with complaints in four languages, in rotation.
-- Non-2xx answers are counted and printed, so "zero errors" is checked, not assumed.
local bodies = {
  '{"text": "I was charged twice for the same order and nobody answers my emails!!", "channel": "email"}',
  '{"text": "Mi pedido lleva tres semanas de retraso y nadie me dice nada.", "channel": "chat"}',
  '{"text": "快递一个星期了还没到，客服也不回复，太让人着急了", "channel": "app"}',
  '{"text": "Приложение банка не открывается уже второй день, не могу войти.", "channel": "phone"}',
}
local i = 0
local errors = 0
local key = os.getenv("CALMDESK_BENCH_KEY")

request = function()
  i = i + 1
  local headers = {["Content-Type"] = "application/json"}
  if key then headers["Authorization"] = "Bearer " .. key end
  return wrk.format("POST", "/v1/triage", headers, bodies[(i % #bodies) + 1])
end

response = function(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
