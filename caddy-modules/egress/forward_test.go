package egress

import (
	"maps"
	"net/http"
	"slices"
	"testing"
)

// TestCopyUpstreamFields: what of an upstream's header block reaches the
// client: no hop-by-hop field, no field the Connection header (of the
// block or of the response) names, no Sovgate-* field; the values are
// copies, so the client's header shares nothing with the upstream's.
func TestCopyUpstreamFields(t *testing.T) {
	src := http.Header{
		"Content-Type":        {"text/plain"},
		"Set-Cookie":          {"a=1", "b=2"},
		"Connection":          {"close, X-Secret", " x-other "},
		"Keep-Alive":          {"timeout=5"},
		"Transfer-Encoding":   {"chunked"},
		"Proxy-Authenticate":  {"Basic"},
		"X-Secret":            {"s"},
		"X-Other":             {"o"},
		"X-Named-By-Response": {"r"},
		"Sovgate-Decision":    {"allow"},
		"sovgate-decision-id": {"forged"},
		"Empty":               {},
		"Date":                nil,
	}
	dst := http.Header{"Sovgate-Decision-Id": {"the gateway's"}}
	copyUpstreamFields(dst, src, []string{"X-Named-By-Response"})
	want := http.Header{
		"Sovgate-Decision-Id": {"the gateway's"},
		"Content-Type":        {"text/plain"},
		"Set-Cookie":          {"a=1", "b=2"},
		"Empty":               {},
		"Date":                nil,
	}
	if dst["Date"] != nil {
		t.Error("a nil value became a list")
	}
	if !maps.EqualFunc(dst, want, slices.Equal) {
		t.Errorf("copied %v\nwant %v", dst, want)
	}
	// Appending to a copied value never writes into the upstream's.
	dst["Content-Type"] = append(dst["Content-Type"], "x")
	dst["Set-Cookie"][0] = "changed"
	if src["Set-Cookie"][0] != "a=1" || len(src["Content-Type"]) != 1 {
		t.Errorf("the upstream's header changed: %v", src)
	}
	if got := upstreamFields(nil, nil); len(got) != 0 {
		t.Errorf("an empty block gave %v", got)
	}
	if got := upstreamFields(http.Header{"Grpc-Status": {"0"}, "X-Named": {"n"}}, []string{"x-named"}); !maps.EqualFunc(got, http.Header{"Grpc-Status": {"0"}}, slices.Equal) {
		t.Errorf("trailers: %v", got)
	}
}
