package cli

import "github.com/caddyserver/caddy/v2"

func init() {
	caddy.CustomBinaryName = "sovgate"
	caddy.CustomLongDescription = `sovgate is a data-sovereignty compliance gateway: an egress proxy for a
city's web applications. For every outbound request it finds where the data
goes (the country of every address), who operates the destination (network,
cloud provider) and which law reaches that operator, asks the Rego policy
whether the transfer is allowed, then forwards it, blocks it, or forwards it
and records a violation.

sovgate is Caddy with sovgate's modules: every Caddy command works (run,
start, stop, reload, validate, adapt, fmt, list-modules, version).

Quick start, no config file (monitor mode, listens on 127.0.0.1:3128):

	$ sovgate egress
	$ curl -x http://127.0.0.1:3128 https://example.org/

With a Caddyfile (see Caddyfile.example):

	$ sovgate validate --config Caddyfile
	$ sovgate run --config Caddyfile

Would this call be allowed, and why not?

	$ sovgate check https://bucket.s3.eu-west-3.amazonaws.com/

For DPO staff, testing a policy change:

	$ sovgate policy test /etc/sovgate/policies
	$ sovgate policy check /etc/sovgate/policies
`
}
