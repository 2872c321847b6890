// Command sovgate is Caddy with sovgate's modules and commands.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// sovgate's modules and commands.
	_ "github.com/sovgate/sovgate/caddy-modules/egress"
	_ "github.com/sovgate/sovgate/caddy-modules/handoff"
	_ "github.com/sovgate/sovgate/caddy-modules/sovereignty"
	_ "github.com/sovgate/sovgate/internal/cli"
)

func main() {
	caddycmd.Main()
}
