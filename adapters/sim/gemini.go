package sim

import (
	"net/http"
	"strings"
)

// Google Gemini generateContent and streamGenerateContent
// (POST /v1beta/models/{model}:generateContent). Placeholder until the Gemini format lands.

// geminiPath splits /v1beta/models/{model}:{method}.
func geminiPath(path string) (model, method string, ok bool) {
	rest, found := strings.CutPrefix(path, "/v1beta/models/")
	if !found {
		return "", "", false
	}
	model, method, found = strings.Cut(rest, ":")
	if !found || model == "" || (method != "generateContent" && method != "streamGenerateContent") {
		return "", "", false
	}
	return model, method, true
}

func (s *Server) geminiGenerate(w http.ResponseWriter, r *http.Request, model, method string) {
	writeGeminiError(w, http.StatusNotImplemented, "The simulator does not serve the Gemini format yet.")
}

// writeGeminiError writes Google's error envelope {"error":{"code","message","status"}}.
func writeGeminiError(w http.ResponseWriter, status int, msg string) {
	b := append([]byte(`{"error":{"code":`), appendInt(nil, int64(status))...)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"status":"UNIMPLEMENTED"}}`...)
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
