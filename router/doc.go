// Package router holds Switchyard's routing decisions: which pinned model and provider answer a
// request, which fallbacks follow, and what it is expected to cost. It is pure decision code: it
// never calls a provider and never touches Kafka or HTTP, so every rule is testable in isolation.
//
// It imports only the schemas package of this project.
package router
