package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/caddy-modules/egress"
	"github.com/sovgate/sovgate/caddy-modules/handoff"
	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/decision"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "egress",
		Usage: "[--listen ADDR] [--mode monitor|enforce] [--policies DIR] [--geoip-country MMDB] [--geoip-asn MMDB] [--resolver HOST:PORT] [--audit STORE]",
		Short: "Run an egress proxy on embedded defaults (no config file needed)",
		Long: `
Starts sovgate as an egress proxy, like 'caddy reverse-proxy' does for a
reverse proxy: no config file, sane defaults.

Defaults: listen on 127.0.0.1:3128 (this machine only: the proxy is never
open by default), monitor mode (violations are forwarded and recorded, never
blocked), the embedded sovereignty policies, the embedded IP-to-country data,
and the system resolver. Every decision is logged as one JSON line by the
logger sovgate.decision, and recorded in the audit store
./sovgate-data/audit.db (SQLite, in the current directory; --audit off
records nothing): 'sovgate audit query' reads it there.

Point an app at it:

  export HTTP_PROXY=http://127.0.0.1:3128 HTTPS_PROXY=http://127.0.0.1:3128
  curl -x http://127.0.0.1:3128 https://example.org/

Name the calling app with proxy Basic auth (the user name is the app):

  curl -x http://etat-civil:x@127.0.0.1:3128 https://example.org/

When you outgrow the flags, write a Caddyfile (see Caddyfile.example) and
use 'sovgate run --config Caddyfile'.
`,
		CobraFunc: func(cmd *cobra.Command) {
			fs := cmd.Flags()
			fs.String("listen", "127.0.0.1:3128", "address to listen on")
			fs.String("audit", defaultAuditStore, "audit store: SQLite file or postgres:// URL; off to record nothing")
			fs.String("admin", "localhost:2019", "address of Caddy's admin endpoint (status at /sovereignty/status); 'off' disables it")
			fs.Bool("access-log", false, "also log every request in Caddy's access log")
			fs.Bool("debug", false, "verbose logging")
			addSettingFlags(fs)
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdEgress)
		},
	})
}

func cmdEgress(fl caddycmd.Flags) (int, error) {
	caddy.TrapSignals()

	listen := fl.String("listen")
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("--listen %q: want host:port, e.g. 127.0.0.1:3128", listen)
	}
	app, err := loadApp(fl)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	app.Audit = fl.String("audit")
	if app.Audit == "off" {
		app.Audit = ""
	}

	cfg, err := egressConfig(app, listen, fl.String("admin"), fl.Bool("access-log"), fl.Bool("debug"))
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	if err := caddy.Run(cfg); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}

	mode, _ := decision.ParseMode(app.Mode)
	log := caddy.Log()
	log.Info("sovgate egress proxy running",
		zap.String("listen", listen),
		zap.String("mode", string(mode)),
		zap.String("policies", orDefault(app.Policies, "embedded")),
		zap.String("try", "curl -x http://"+listen+" https://example.org/"))
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		log.Warn("listening on every interface: any host that reaches this port can use the proxy; restrict access with a firewall or listen on one address")
	}
	select {}
}

// egressConfig builds the JSON config of the quick start: one server with
// one route to sovereign_egress, and the sovereignty app.
func egressConfig(app *sovereignty.App, listen, admin string, accessLog, debug bool) (*caddy.Config, error) {
	server := &caddyhttp.Server{
		Listen: []string{listen},
		Routes: caddyhttp.RouteList{{
			HandlersRaw: []json.RawMessage{caddyconfig.JSONModuleObject(egress.Handler{}, "handler", "sovereign_egress", nil)},
		}},
		AutoHTTPS: &caddyhttp.AutoHTTPSConfig{Disabled: true},
		// A slow or oversized request must not hold the gateway: headers
		// within 10 s and 64 KiB, idle keep-alive connections closed
		// after 2 minutes.
		ReadHeaderTimeout: caddy.Duration(10 * time.Second),
		IdleTimeout:       caddy.Duration(2 * time.Minute),
		MaxHeaderBytes:    64 << 10,
		// A reload (sovgate reload) loses no request (see the handoff
		// package).
		ListenerWrappersRaw: []json.RawMessage{caddyconfig.JSONModuleObject(handoff.Wrapper{}, "wrapper", "sovgate_handoff", nil)},
	}
	if accessLog {
		server.Logs = &caddyhttp.ServerLogConfig{}
	}
	httpApp := caddyhttp.App{Servers: map[string]*caddyhttp.Server{"egress": server}}

	persist := false
	cfg := &caddy.Config{
		Admin: &caddy.AdminConfig{Listen: admin, Config: &caddy.ConfigSettings{Persist: &persist}},
		AppsRaw: caddy.ModuleMap{
			"sovereignty": caddyconfig.JSON(app, nil),
			"http":        caddyconfig.JSON(httpApp, nil),
		},
	}
	if admin == "off" {
		cfg.Admin = &caddy.AdminConfig{Disabled: true, Config: &caddy.ConfigSettings{Persist: &persist}}
	}
	if debug {
		cfg.Logging = &caddy.Logging{Logs: map[string]*caddy.CustomLog{
			"default": {BaseLog: caddy.BaseLog{Level: zap.DebugLevel.CapitalString()}},
		}}
	}
	return cfg, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
