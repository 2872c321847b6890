package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/decision"
	"github.com/sovgate/sovgate/internal/lang"
	"github.com/sovgate/sovgate/policy"
)

// Exit statuses of `sovgate check`, a public contract: scripts and CI jobs
// branch on them (0 allowed, 1 error, 3 denied).
const (
	exitAllowed = 0
	exitError   = 1
	exitDenied  = 3
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "check",
		Usage: "[--config FILE] [--app NAME] [--format text|json] [--lang en|fr] [--explain] TARGET",
		Short: "Classify and evaluate one destination without sending it anything",
		Long: `
Runs the decision pipeline for one destination, exactly as the proxy would,
but sends nothing to it: resolve, refuse private addresses, classify each
address (country, ASN, provider, jurisdiction), evaluate the policy, apply
the mode. Use it to answer "would this call be allowed, and why not?".

TARGET is what the app would ask the proxy for:
  https://api.example.com/v1   a CONNECT tunnel to api.example.com:443
  http://api.example.com/v1    a GET forwarded in absolute form
  api.example.com:8443         a CONNECT tunnel to that port
  api.example.com              same as https://api.example.com

Settings come from --config (your Caddyfile or JSON config: its
sovereignty block) and the flags below override them.

Exit status: 0 allowed, 3 denied, 1 error (bad target, DNS failure,
unreadable configuration or policy error). In monitor mode a denied
destination is still forwarded by the proxy, but check exits 3 so scripts
can find violations before enforcing.

With --explain, check also lists the policy rules that made the decision,
each with its file:line (the branch of data.sovgate.decision that decided is
marked), using OPA's tracer: the answer to "which rule blocked my request?".

With --lang fr the text is in French: the reasons' messages are the
policy's French ones, countries are named ("États-Unis"). The JSON format
holds every language the policy wrote (each reason's "messages").

Examples:
  sovgate check https://bucket.s3.eu-west-3.amazonaws.com/
  sovgate check --explain --app etat-civil https://api.example.com/
  sovgate check --app etat-civil --format json api.example.com:443
  sovgate check --config /etc/caddy/Caddyfile https://graph.microsoft.com/
  sovgate check --lang fr --app etat-civil https://api.example.com/
`,
		CobraFunc: func(cmd *cobra.Command) {
			fs := cmd.Flags()
			fs.StringP("config", "c", "", "Caddyfile or JSON config to read the sovereignty settings from")
			fs.StringP("adapter", "a", "", "config adapter (default: caddyfile for files named Caddyfile*)")
			fs.String("app", decision.UnknownApp, "the calling app, as the proxy would identify it")
			fs.String("method", "", "HTTP method for http:// targets (default GET)")
			fs.String("format", "text", "output format: text or json")
			fs.Duration("timeout", 10*time.Second, "give up after this long")
			fs.Bool("explain", false, "list the policy rules that decided, with file:line")
			addLangFlag(fs)
			addSettingFlags(fs)
			cmd.Args = cobra.ExactArgs(1)
			// Exit status 3 (denied) is an answer, not a failure: no
			// "Error:" line for it. Real errors are logged by the runner.
			cmd.SilenceErrors = true
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return runCheck(fl, os.Stdout)
			})
		},
	})
}

// CheckReport is the JSON document `sovgate check --format json` prints.
type CheckReport struct {
	Target     string        `json:"target"`
	DecisionID string        `json:"decision_id"`
	Verdict    audit.Verdict `json:"verdict"`
	Action     audit.Action  `json:"action"`
	// Class is the class of a denial: sovereignty (a violation) or
	// operational (a refusal).
	Class   audit.Class  `json:"class,omitempty"`
	Mode    string       `json:"mode"`
	Reasons []audit.Code `json:"reasons"`
	// Detail explains a code the gateway decided itself, in English;
	// DetailMessages has it in every language, keyed "en", "fr".
	Detail         string            `json:"detail,omitempty"`
	DetailMessages map[string]string `json:"detail_messages,omitempty"`
	Status         int               `json:"status,omitempty"`
	PolicyRevision string            `json:"policy_revision"`
	Input          *policy.Input     `json:"input"`
	Decision       *policy.Decision  `json:"decision"`
	// Explanation lists the rules that decided (--explain).
	Explanation *policy.Explanation `json:"explanation,omitempty"`
}

func runCheck(fl caddycmd.Flags, stdout io.Writer) (int, error) {
	format := fl.String("format")
	if format != "text" && format != "json" {
		return exitError, fmt.Errorf("--format %q: use text or json", format)
	}
	l, err := langFlag(fl)
	if err != nil {
		return exitError, err
	}
	target, err := parseCheckTarget(fl.Arg(0), fl.String("method"))
	if err != nil {
		return exitError, err
	}
	app, err := loadApp(fl)
	if err != nil {
		return exitError, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), fl.Duration("timeout"))
	defer cancel()
	parts, err := app.Build(ctx)
	if err != nil {
		return exitError, err
	}
	defer parts.Close()

	appName := fl.String("app")
	caller := decision.Caller{App: appName, IdentifiedBy: "none"}
	if appName != decision.UnknownApp {
		caller.IdentifiedBy = "basic"
	}
	out := parts.Pipeline.Decide(ctx, target, caller)
	report := CheckReport{
		Target:         target.String(),
		DecisionID:     out.ID,
		Verdict:        out.Verdict,
		Action:         out.Action,
		Class:          out.Class(),
		Mode:           string(out.Mode),
		Reasons:        out.Reasons,
		PolicyRevision: out.PolicyRevision,
		Input:          out.Input,
		Decision:       out.Decision,
	}
	if !out.Detail.IsZero() {
		report.Detail = out.Detail.String()
		report.DetailMessages = map[string]string{}
		for _, each := range lang.Supported {
			report.DetailMessages[string(each)] = out.Detail.In(each)
		}
	}
	if out.Blocked() {
		report.Status = out.Status
	}
	if explain, _ := fl.GetBool("explain"); explain && out.Input != nil {
		// Tracing only here, never on the proxy's request path.
		ex, err := parts.Pipeline.Policy().Explain(ctx, out.Input)
		if err != nil {
			return exitError, fmt.Errorf("explain the decision: %w", err)
		}
		report.Explanation = ex
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return exitError, err
		}
	} else {
		writeCheckText(stdout, &report, out, parts.PolicySource, l)
	}
	status := checkExitStatus(out)
	if status == exitError {
		// Caddy's command runner turns status 1 into 0 unless an error
		// comes with it.
		return status, fmt.Errorf("no policy decision for %s: %s: %s", target, joinCodes(out.Reasons), out.Detail)
	}
	return status, nil
}

// checkExitStatus maps an outcome to the exit status: a verdict the
// policy reached is 0 or 3; anything that kept the policy from deciding is
// an error.
func checkExitStatus(out *decision.Outcome) int {
	for _, code := range out.Reasons {
		switch code {
		case audit.CodeBadTarget, audit.CodeDNSFailure, audit.CodePolicyError:
			return exitError
		}
	}
	if out.Verdict == audit.Allow {
		return exitAllowed
	}
	return exitDenied
}

// parseCheckTarget turns a URL, host:port or bare host into the target the
// proxy would see.
func parseCheckTarget(arg, method string) (decision.Target, error) {
	if arg == "" {
		return decision.Target{}, fmt.Errorf("missing TARGET (a URL or host:port)")
	}
	if strings.Contains(arg, "://") {
		u, err := url.Parse(arg)
		if err != nil {
			return decision.Target{}, fmt.Errorf("TARGET %q: %w", arg, err)
		}
		switch strings.ToLower(u.Scheme) {
		case "https":
			authority := u.Host
			if u.Port() == "" {
				authority = strings.TrimSuffix(authority, ":") + ":443"
			}
			return decision.ParseConnectTarget(authority)
		case "http":
			if method == "" {
				method = "GET"
			}
			return decision.ParseURLTarget(strings.ToUpper(method), u)
		default:
			return decision.Target{}, fmt.Errorf("TARGET %q: scheme %q is not supported (use http, https or host:port)", arg, u.Scheme)
		}
	}
	if t, err := decision.ParseConnectTarget(arg); err == nil {
		return t, nil
	}
	// A bare host name (or bracketed IPv6) means https on port 443.
	return decision.ParseConnectTarget(hostWithPort(arg, "443"))
}

func hostWithPort(host, port string) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// checkWords are the labels of the text of `sovgate check`.
var checkWords = map[lang.Lang]struct {
	target, app, identifiedBy, addresses, decision, noDecision, mode, profile string
	reasons, policy, revision, rules, decided                                 string
}{
	lang.English: {"Target", "App", "%s (identified by %s)", "Addresses", "Decision", "NO POLICY DECISION", "%s mode", ", profile %s",
		"Reasons", "Policy", "revision %s (%s)", "Rules", "   <- decided"},
	lang.French: {"Cible", "Application", "%s (%s)", "Adresses", "Décision", "PAS DE DÉCISION DE LA POLITIQUE", "mode %s", ", profil %s",
		"Motifs", "Politique", "révision %s (%s)", "Règles", "   <- a décidé"},
}

func writeCheckText(w io.Writer, r *CheckReport, out *decision.Outcome, policySource string, l lang.Lang) {
	words := checkWords[l]
	colon := lang.Choose(l, ": ", " : ")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\n", words.target, r.Target)
	if r.Input != nil {
		fmt.Fprintf(tw, "%s\t"+words.identifiedBy+"\n", words.app, r.Input.Source.App, identifiedByText(l, r.Input.Source.IdentifiedBy))
	}
	if dest := out.Destination; dest != nil {
		for i, a := range dest.Addresses {
			label := ""
			if i == 0 {
				label = words.addresses
			}
			fmt.Fprintf(tw, "%s\t%s\n", label, geoAddressText(a, "", l))
		}
		writeProvidersText(tw, dest.Providers, l)
	}
	verdict := verdictWord(l, r.Verdict)
	if r.Decision == nil {
		verdict = words.noDecision
	}
	profile := ""
	if r.Decision != nil && r.Decision.Profile != "" {
		profile = fmt.Sprintf(words.profile, r.Decision.Profile)
	}
	fmt.Fprintf(tw, "%s\t%s (%s%s)%s%s\n", words.decision, verdict, fmt.Sprintf(words.mode, modeText(l, r.Mode)), profile, colon, actionText(r, l))
	for i, e := range out.Explain(l) {
		label := ""
		if i == 0 {
			label = words.reasons
		}
		fmt.Fprintf(tw, "%s\t%s%s%s\n", label, e.Code, colon, e.Message)
	}
	fmt.Fprintf(tw, "%s\t"+words.revision+"\n", words.policy, r.PolicyRevision, policySource)
	if r.Explanation != nil {
		for i, h := range r.Explanation.Rules {
			label := ""
			if i == 0 {
				label = words.rules
			}
			mark := ""
			if h.Decided {
				mark = words.decided
			}
			fmt.Fprintf(tw, "%s\t%s\t%s%s\n", label, h.Where(), h.Text, mark)
		}
	}
	tw.Flush()
}

// verdictWord is the verdict as check shows it: ALLOW, DENY;
// AUTORISATION, REFUS.
func verdictWord(l lang.Lang, v audit.Verdict) string {
	if l == lang.French {
		if v == audit.Allow {
			return "AUTORISATION"
		}
		return "REFUS"
	}
	return strings.ToUpper(string(v))
}

// modeText names a mode in l.
func modeText(l lang.Lang, mode string) string {
	if l == lang.French {
		switch decision.Mode(mode) {
		case decision.Monitor:
			return "surveillance"
		case decision.Enforce:
			return "bloquant"
		}
	}
	return mode
}

// identifiedByText says in l how the app was identified.
func identifiedByText(l lang.Lang, by string) string {
	if l != lang.French {
		return by
	}
	switch by {
	case "basic":
		return "reconnue par ses identifiants de proxy, basic"
	case "mtls":
		return "reconnue par son certificat client, mtls"
	case "cidr":
		return "reconnue par son réseau source, cidr"
	case "none":
		return "non identifiée, none"
	}
	return by
}

func actionText(r *CheckReport, l lang.Lang) string {
	if r.Action == audit.Forwarded {
		if r.Verdict == audit.Deny {
			return lang.Choose(l, "the proxy forwards it and records a violation",
				"le proxy transmet la requête et enregistre l'écart")
		}
		return lang.Choose(l, "the proxy forwards it", "le proxy transmet la requête")
	}
	if l == lang.French {
		return fmt.Sprintf("le proxy répond %d et bloque la requête", r.Status)
	}
	return fmt.Sprintf("the proxy answers %d %s and blocks it", r.Status, http.StatusText(r.Status))
}

// joinCodes lists codes as the Sovgate-Reasons header does: CODE,CODE.
func joinCodes(codes []audit.Code) string {
	s := make([]string, len(codes))
	for i, c := range codes {
		s[i] = string(c)
	}
	return strings.Join(s, ",")
}
