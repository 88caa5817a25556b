// Package gateway is the OpenAI wire format of Switchyard's HTTP gateway: it reads a
// POST /v1/chat/completions body into a canonical [schemas.Request] ([ParseChatRequest],
// [ChatRequest.ToRequest]), writes a canonical [schemas.Response] as an OpenAI chat.completion
// ([Completion]) or a request's [schemas.StreamChunk] records as chat.completion.chunk
// server-sent events ([StreamEncoder]), and speaks OpenAI's error shape ([APIError],
// [ErrorFor], [ErrorFrame]).
//
// Everything here is pure: no I/O, no Kafka, no clocks. The HTTP handler, authentication and
// the Kafka plumbing that use it live beside it. This layer imports only the standard library
// and schemas; it must not import adapters (the few constants it shares with them are copied),
// router, consumers or producers.
//
// # Where it departs from OpenAI
//
// Only one choice is produced (n other than 1 is a 400), and request fields that would
// change the answer in a way the pipeline cannot honour are refused rather than ignored:
// stop sequences, logprobs, the legacy functions and function_call, audio output. Sampling
// hints the providers may not all take (top_p, penalties, seed, parallel_tool_calls, ...) are
// accepted and ignored. Responses carry an extra top-level object, "switchyard", with the
// request id, the provider and model that answered, the status, fallback depth, hedging, cost
// and attempt count; OpenAI clients ignore fields they do not know.
package gateway
