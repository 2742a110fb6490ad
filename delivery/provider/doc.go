// Package provider holds the delivery providers: the adapters that hand one
// rendered delivery.Outgoing to an outside service. SMTP carries email,
// Twilio carries SMS, voice calls and WhatsApp, and Webhook posts any channel
// to an HTTPS gateway that you run. Router picks a provider for a channel or
// a configured provider id, Noop accepts everything (for benchmarks), and Func
// turns a function into a provider.
//
// # Invariants
//
// Every provider keeps these rules:
//
//   - Send returns nil only when the service accepted the message.
//   - Send returns a delivery.Permanent error when retrying cannot help: an
//     HTTP 4xx other than 408 and 429, rejected credentials, an invalid
//     recipient, an SMTP 5xx reply, an unknown channel. The queue drops the
//     job.
//   - Any other error is transient: network errors, timeouts, a cancelled
//     context, HTTP 408, 429 and 5xx, SMTP 4xx replies. The queue retries it
//     with backoff. When an HTTP service sends Retry-After, the error is a
//     *RetryAfterError so that the queue can wait at least that long.
//   - Error messages are logged, so they never contain the code, the full
//     recipient address or a secret. They give the provider, the stage and
//     the service's status or error code (for example "twilio: HTTP 400
//     (code 21211)"), never the body the service sent back, which may echo
//     the number. Where an error wraps a lower-level one, only the cleaned
//     message is printed; errors.Is and errors.As still reach the cause.
//   - Outgoing.ID is stable across retries of one job, and each provider
//     passes it on as an idempotency key: the Message-ID and
//     X-Otpd-Idempotency-Key headers for SMTP, the I-Twilio-Idempotency-Token
//     header for Twilio, and the Idempotency-Key header and the "id" field for
//     webhooks. Delivery is at least once: a job whose acceptance reply was
//     lost is sent again, so receivers must drop repeated ids.
//   - Providers hold no global state. Constructors take their dependencies:
//     an *http.Client and a clock (func() time.Time) where time is needed.
//     A provider is safe for concurrent use.
//
// # Voice
//
// The Twilio voice call reads Outgoing.Text once, in a single <Say>. The
// voice templates already spell the code digit by digit and say it twice, so
// the provider adds no repetition of its own.
//
// # Verifying webhooks
//
// A webhook request is a POST with a JSON body:
//
//	{"id":"…","attempt":1,"project":"…","channel":"sms","to":"+33…","code":"123456",
//	 "expiresAt":"2025-01-02T15:04:05Z","locale":"fr","subject":"…","text":"…","html":"…"}
//
// ("subject" and "html" are left out when empty), with these headers:
//
//	Content-Type:      application/json
//	User-Agent:        otpd
//	Idempotency-Key:   the job id (the same as "id")
//	X-Otpd-Timestamp:  the send time, in Unix seconds
//	X-Otpd-Signature:  v1=<hex of HMAC-SHA256(secret, timestamp + "." + body)>
//
// A receiver verifies a request in these steps (VerifyWebhook does steps 2
// to 5 for Go receivers):
//
//  1. Read the raw body bytes, before any JSON parsing: the signature covers
//     the exact bytes sent.
//  2. Read X-Otpd-Timestamp, a decimal count of seconds. Reject the request
//     if it is missing, not a number, or more than the tolerance (5 minutes
//     is a good choice) away from the receiver's clock, in either direction.
//  3. Compute HMAC-SHA256 with the shared secret as key over the bytes of the
//     timestamp header value, one "." (0x2E), then the body, and hex-encode
//     it in lower case.
//  4. Read X-Otpd-Signature. It holds one or more comma-separated entries;
//     keep those that start with "v1=" and compare the rest of each with the
//     value from step 3 in constant time (hmac.Equal in Go,
//     crypto.timingSafeEqual in Node.js, hmac.compare_digest in Python).
//     Reject the request unless one entry matches.
//  5. Only then parse the JSON.
//  6. Look up Idempotency-Key (or "id") in a store of recently seen ids kept
//     for at least the code lifetime plus the tolerance. If it is already
//     there, answer 2xx again without sending anything; otherwise record it
//     and send the message.
//
// The timestamp is signed so that a captured request cannot be replayed
// later: changing the timestamp breaks the signature, and an old timestamp
// falls outside the tolerance. The idempotency key covers the other way a
// request can repeat: delivery is at least once, so after a timeout or a lost
// reply the same job is sent again, with the same id and a new timestamp and
// signature. Step 6 makes that repeat harmless. Answer 2xx once the message
// is accepted (also for a repeat), 408, 429 or 5xx (optionally with
// Retry-After) to have it retried, and any other 4xx to drop it.
package provider
