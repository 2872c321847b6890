// Command sovgate is the sovgate gateway: Caddy with sovgate's modules, and
// sovgate's command line.
package main

import (
	"github.com/sovgate/sovgate/cmd/sovgate/cli"

	// Caddy's standard modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// sovgate's modules and commands.
	_ "github.com/sovgate/sovgate/caddy-modules/egress"
	_ "github.com/sovgate/sovgate/caddy-modules/handoff"
	_ "github.com/sovgate/sovgate/caddy-modules/sovereignty"
)

func main() {
	cli.Main()
}
