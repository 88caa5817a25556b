package sim

import (
	"net/http"
)

// Anthropic Messages (POST /v1/messages). Placeholder until the Anthropic format lands.

func (s *Server) anthropicMessages(w http.ResponseWriter, r *http.Request) {
	writeAnthropicError(w, http.StatusNotImplemented, "api_error", "The simulator does not serve the Anthropic format yet.")
}

// writeAnthropicError writes {"type":"error","error":{"type","message"}}.
func writeAnthropicError(w http.ResponseWriter, status int, typ, msg string) {
	b := append([]byte(`{"type":"error","error":{"type":`), appendString(nil, typ)...)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	b = append(b, "}}"...)
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
