package egress

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// adaptCaddyfile adapts a Caddyfile to indented JSON, as `sovgate adapt`
// does.
func adaptCaddyfile(t *testing.T, name string, body []byte) ([]byte, error) {
	t.Helper()
	adapter := caddyconfig.GetAdapter("caddyfile")
	out, warnings, err := adapter.Adapt(body, map[string]any{"filename": name})
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		t.Logf("%s: adapt warning: %s", name, w.String())
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, out, "", "\t"); err != nil {
		return nil, err
	}
	return indented.Bytes(), nil
}

// TestAdaptFixtures pins the JSON shape of Caddyfiles, in the style of
// Caddy's caddyfile_adapt tests: each testdata/adapt/*.caddyfiletest holds a
// Caddyfile, a line of dashes, and the expected JSON. Set
// SOVGATE_UPDATE_FIXTURES=1 to rewrite the expected JSON after a deliberate
// change, then review the diff.
func TestAdaptFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no adapt fixtures found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, expected, ok := strings.Cut(string(raw), "\n----------\n")
			if !ok {
				t.Fatalf("%s: missing the ---------- separator", file)
			}
			got, err := adaptCaddyfile(t, file, []byte(caddyfile))
			if err != nil {
				t.Fatalf("adapting %s: %v", file, err)
			}
			if os.Getenv("SOVGATE_UPDATE_FIXTURES") == "1" {
				if err := os.WriteFile(file, []byte(caddyfile+"\n----------\n"+string(got)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if strings.TrimSpace(string(got)) != strings.TrimSpace(expected) {
				t.Errorf("%s: adapted JSON differs from the fixture.\n--- got\n%s\n--- want\n%s", file, got, expected)
			}
		})
	}
}

// TestEgressRunsBeforeEveryRespondingHandler is the fail-open guard: in a
// site that also uses handlers which answer requests themselves, the
// adapted route list must start with sovereign_egress, whatever order the
// Caddyfile lists them in.
func TestEgressRunsBeforeEveryRespondingHandler(t *testing.T) {
	caddyfile := `{
	sovereignty
}
http://:3128 {
	respond /health "ok"
	redir /old /new
	rewrite /a /b
	header X-Site sovgate
	basic_auth /private/* {
		admin $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG
	}
	reverse_proxy /api/* 127.0.0.1:9
	file_server
	map {host} {x} {
		default y
	}
	vars foo bar
	sovereign_egress
}
`
	out, err := adaptCaddyfile(t, "Caddyfile", []byte(caddyfile))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []struct {
							Handler string `json:"handler"`
						} `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	srv, ok := cfg.Apps.HTTP.Servers["srv0"]
	if !ok || len(srv.Routes) == 0 {
		t.Fatalf("no routes in adapted config:\n%s", out)
	}
	first := srv.Routes[0]
	if len(first.Handle) == 0 || first.Handle[0].Handler != "sovereign_egress" {
		t.Fatalf("the first route does not start with sovereign_egress; a proxy request could be answered without a policy check:\n%s", out)
	}
	seenEgress := 0
	for _, route := range srv.Routes {
		for _, h := range route.Handle {
			if h.Handler == "sovereign_egress" {
				seenEgress++
			}
		}
	}
	if seenEgress != 1 {
		t.Fatalf("sovereign_egress appears %d times, want once", seenEgress)
	}
}

func TestCaddyfileErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, caddyfile, want string
	}{
		{"unknown global option", "{\n\tsovereignty {\n\t\tmood enforce\n\t}\n}\nhttp://:3128 {\n\tsovereign_egress\n}\n", `Caddyfile:3`},
		{"bad mode", "{\n\tsovereignty {\n\t\tmode block\n\t}\n}\nhttp://:3128 {\n\tsovereign_egress\n}\n", `unknown mode "block"`},
		{"bad cidr", "{\n\tsovereignty {\n\t\tallow_private 10.0.0.0/33\n\t}\n}\n", `allow_private`},
		{"host bits set", "{\n\tsovereignty {\n\t\tallow_private 10.0.0.1/8\n\t}\n}\n", `did you mean 10.0.0.0/8`},
		{"bad resolver", "{\n\tsovereignty {\n\t\tresolver not:a:resolver\n\t}\n}\n", `resolver`},
		{"twice", "{\n\tsovereignty\n\tsovereignty\n}\n", `given twice`},
		{"handler option", "{\n\tsovereignty\n}\nhttp://:3128 {\n\tsovereign_egress {\n\t\ttunnel_idle_timeout soon\n\t}\n}\n", `Caddyfile:6`},
		{"handler argument", "{\n\tsovereignty\n}\nhttp://:3128 {\n\tsovereign_egress now\n}\n", `takes no arguments`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adaptCaddyfile(t, "Caddyfile", []byte(tc.caddyfile))
			if err == nil {
				t.Fatalf("adapting succeeded; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
