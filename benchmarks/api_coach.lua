-- wrk script: POST /v1/coach with one 40-turn English call transcript (JSON turns).
local body = [==[{"transcript": {"id": "bench-40", "turns": [{"speaker": "Customer", "text": "Hello, my card was charged twice for the same order."}, {"speaker": "Agent", "text": "Good morning, this is Ana from the billing desk, am I speaking with Mr. Smith?"}, {"speaker": "Customer", "text": "I already called yesterday and nobody helped me."}, {"speaker": "Agent", "text": "I'm sorry to hear that, let me check your account."}, {"speaker": "Customer", "text": "Why does it take so long?"}, {"speaker": "Agent", "text": "I can't do anything about the second charge, that's not my department."}, {"speaker": "Customer", "text": "I want my money back today."}, {"speaker": "Agent", "text": "I understand, I will look into it right now."}, {"speaker": "Customer", "text": "This is the third time I call about this."}, {"speaker": "Agent", "text": "As I already told you, refunds take five working days."}, {"speaker": "Customer", "text": "Can you at least tell me when?"}, {"speaker": "Agent", "text": "I see the two payments on the order from Monday."}, {"speaker": "Customer", "text": "Fine, and what about the second charge?"}, {"speaker": "Agent", "text": "I promise it will be fixed today."}, {"speaker": "Customer", "text": "OK. Will you call me back?"}, {"speaker": "Agent", "text": "What I can do for you is open a refund request now."}, {"speaker": "Customer", "text": "Thank you."}, {"speaker": "Agent", "text": "Yes, I will call you back within three days."}, {"speaker": "Customer", "text": "Goodbye."}, {"speaker": "Agent", "text": "Thank you for calling, have a nice day."}, {"speaker": "Customer", "text": "Hello, my card was charged twice for the same order."}, {"speaker": "Agent", "text": "Good morning, this is Ana from the billing desk, am I speaking with Mr. Smith?"}, {"speaker": "Customer", "text": "I already called yesterday and nobody helped me."}, {"speaker": "Agent", "text": "I'm sorry to hear that, let me check your account."}, {"speaker": "Customer", "text": "Why does it take so long?"}, {"speaker": "Agent", "text": "I can't do anything about the second charge, that's not my department."}, {"speaker": "Customer", "text": "I want my money back today."}, {"speaker": "Agent", "text": "I understand, I will look into it right now."}, {"speaker": "Customer", "text": "This is the third time I call about this."}, {"speaker": "Agent", "text": "As I already told you, refunds take five working days."}, {"speaker": "Customer", "text": "Can you at least tell me when?"}, {"speaker": "Agent", "text": "I see the two payments on the order from Monday."}, {"speaker": "Customer", "text": "Fine, and what about the second charge?"}, {"speaker": "Agent", "text": "I promise it will be fixed today."}, {"speaker": "Customer", "text": "OK. Will you call me back?"}, {"speaker": "Agent", "text": "What I can do for you is open a refund request now."}, {"speaker": "Customer", "text": "Thank you."}, {"speaker": "Agent", "text": "Yes, I will call you back within three days."}, {"speaker": "Customer", "text": "Goodbye."}, {"speaker": "Agent", "text": "Thank you for calling, have a nice day."}]}, "lang": "en"}]==]
local errors = 0
local key = os.getenv("CALMDESK_BENCH_KEY")

request = function()
  local headers = {["Content-Type"] = "application/json"}
  if key then headers["Authorization"] = "Bearer " .. key end
  return wrk.format("POST", "/v1/coach", headers, body)
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
