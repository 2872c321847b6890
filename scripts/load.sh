#!/usr/bin/env bash
# Load test of the whole proxy on loopback (docs/PERFORMANCE.md).
#
# Builds sovgate and the load generator, starts an upstream on 127.0.0.2 and
# one sovgate serving three sites: the egress proxy (:3128), Caddy's own
# reverse_proxy to the same upstream (:3129, the reference hop), and nothing
# else. Then runs each scenario for DURATION seconds with CLIENTS clients and
# prints one JSON line per scenario. Bounded in time; stops everything it
# started.
#
#   scripts/load.sh                 # defaults: 50 clients, 10 s per scenario
#   CLIENTS=50 DURATION=20 scripts/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-50}
DURATION=${DURATION:-10}
IDLE_TUNNELS=${IDLE_TUNNELS:-2000}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/sovgate" ./cmd/sovgate
go build -o "$work/load" ./tools/load

"$work/load" upstream -listen 127.0.0.2:18080 2>"$work/upstream.log" &
pids+=($!)

cat >"$work/Caddyfile" <<CADDY
{
	admin 127.0.0.1:2999
	sovereignty {
		mode monitor
		allow_private 127.0.0.2/32
		max_tunnels 100000
	}
	servers {
		timeouts {
			read_header 10s
			idle 2m
		}
		listener_wrappers {
			sovgate_handoff
		}
	}
	log decisions {
		include sovgate.decision
		output file $work/decisions.log
		format json
	}
	log default {
		exclude sovgate.decision
		level WARN
	}
}

http://:3128 {
	bind 127.0.0.1
	sovereign_egress
}

http://127.0.0.1:3129 {
	reverse_proxy 127.0.0.2:18080
}
CADDY
ulimit -n 65536 2>/dev/null || true
"$work/sovgate" run --config "$work/Caddyfile" --adapter caddyfile 2>"$work/sovgate.log" &
pid=$!
pids+=($pid)
for _ in $(seq 100); do
	curl -sf -o /dev/null http://127.0.0.2:18080/ && curl -sf -o /dev/null -x http://127.0.0.1:3128 http://127.0.0.2:18080/ && break
	sleep 0.1
done

run() { "$work/load" run -clients "$CLIENTS" -duration "${DURATION}s" -pid "$pid" "$@"; }
echo "# sovgate $(git rev-parse --short HEAD 2>/dev/null), $CLIENTS clients, ${DURATION}s each, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
run -scenario direct -target http://127.0.0.2:18080/
run -scenario reverse -target http://127.0.0.1:3129/ -stats http://127.0.0.2:18080/_stats
run -scenario forward -target http://127.0.0.2:18080/
run -scenario direct-new -target http://127.0.0.2:18080/
run -scenario connect-new -target http://127.0.0.2:18080/
run -scenario tunnel -target http://127.0.0.2:18080/
"$work/load" run -scenario idle-tunnels -clients "$IDLE_TUNNELS" -pid "$pid" -target http://127.0.0.2:18080/
