#!/usr/bin/env bash
# Load test of the deployed gateway on loopback (docs/PERFORMANCE.md).
#
# sovgate runs as deployed: enforce mode, its audit store on (SQLite,
# batched), the decision log written to a file, the upstream an `internal`
# destination the policy allows. Beside it, in the same binary, Caddy's own
# reverse_proxy to the same upstream is the reference hop. Each cell of the
# grid below runs on a fresh proxy process, and the grid is repeated REPS
# times, interleaved (every cell once, then again), so that the drift of a
# shared machine falls on every cell alike; the summary gives medians.
#
# Cells (CPU per request = the proxy's user+system CPU time over the run,
# from /proc, divided by the requests it served):
#   caddy-hop-50, caddy-hop-1          reverse_proxy, 50 and 1 keep-alive clients
#   sqlite-50, sqlite-1                sovgate forward (absolute-form), audit on (SQLite, batched)
#   nostore-50, nostore-1              the same configuration without the audit store
#   strict-50                          audit on, audit_sync strict
#   connect-sqlite-50                  a new CONNECT tunnel per GET, audit on
#   connect-nostore-50                 the same without the store
#   postgres-50, postgres-1            audit on PostgreSQL (with --postgres)
#   forwardproxy-50, forwardproxy-connect-50
#                                      Caddy + forwardproxy (with FORWARDPROXY=binary)
# Peak memory is the proxy's VmHWM over the measured window (reset after the
# warm-up; the peak since start, the start-up's, is kept beside it). Each
# proxy starts with its binary out of the page cache, as after an install or
# a boot: the pages a build or a copy just wrote are cached in large folios
# that map 10 to 15 MiB more of the same binary.
#
#   scripts/load.sh                                    # 3 repetitions, 10 s per cell
#   scripts/load.sh --postgres 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
#   REPS=1 DURATION=5 scripts/load.sh                  # a quick look
#   FORWARDPROXY=/path/to/caddy-with-forwardproxy scripts/load.sh
#   PROFILE=20 scripts/load.sh                         # also a 20 s CPU profile at 50 clients, audit on
#   PROFILE=20 PROFILE_CELLS='nostore-50 sqlite-1' REPS=0 scripts/load.sh   # profiles of other cells only
#   EXTRAS=1 scripts/load.sh                           # also direct, direct-new, tunnel, idle tunnels (once)
#   INGEST=1 scripts/load.sh                           # also the audit ingest benchmarks (22,000 records/s offered)
#   CELLS='caddy-hop-50 sqlite-50' scripts/load.sh     # only these cells
#   SOVGATE_BIN=/tmp/sovgate-before scripts/load.sh    # a sovgate built elsewhere (another commit)
#   BASELINE_BIN=/tmp/sovgate-before scripts/load.sh   # every sovgate cell also with that build, interleaved: before/after
#
# The results (one JSON line per run), the profile and the summary are kept
# in OUT (default: a new directory under /tmp, printed at the end). The
# summary (Markdown, `load summary OUT/results.jsonl`) gives the targets of
# issue 14 with pass or fail. Bounded in time: each run is DURATION plus one
# second of warm-up; a proxy that does not start within 60 s, or a run that
# overstays, is killed. Stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

POSTGRES=${POSTGRES:-}
while [ $# -gt 0 ]; do
	case "$1" in
	--postgres)
		POSTGRES=${2:?--postgres needs a postgres:// URL}
		shift 2
		;;
	--postgres=*)
		POSTGRES=${1#--postgres=}
		shift
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "load.sh: unknown argument $1 (see --help)" >&2
		exit 2
		;;
	esac
done
REPS=${REPS:-3}
DURATION=${DURATION:-10}
PROFILE=${PROFILE:-}
EXTRAS=${EXTRAS:-}
INGEST=${INGEST:-}
FORWARDPROXY=${FORWARDPROXY:-}
IDLE_TUNNELS=${IDLE_TUNNELS:-2000}
OUT=${OUT:-$(mktemp -d /tmp/sovgate-load.XXXXXX)}
mkdir -p "$OUT"
results="$OUT/results.jsonl"
: >"$results"

all_cells="caddy-hop-50 sqlite-50 nostore-50 strict-50 connect-sqlite-50 connect-nostore-50 caddy-hop-1 sqlite-1 nostore-1"
if [ -n "$POSTGRES" ]; then
	all_cells="$all_cells postgres-50 postgres-1"
fi
if [ -n "$FORWARDPROXY" ]; then
	[ -x "$FORWARDPROXY" ] || {
		echo "load.sh: FORWARDPROXY=$FORWARDPROXY is not an executable" >&2
		exit 2
	}
	all_cells="$all_cells forwardproxy-50 forwardproxy-connect-50"
fi
CELLS=${CELLS:-$all_cells}
BASELINE_BIN=${BASELINE_BIN:-}
if [ -n "$BASELINE_BIN" ]; then
	# Every sovgate cell runs with the baseline build too, interleaved with
	# this build's, for a before/after comparison on a shared machine.
	[ -x "$BASELINE_BIN" ] || {
		echo "load.sh: BASELINE_BIN=$BASELINE_BIN is not an executable" >&2
		exit 2
	}
	with_baseline=""
	for c in $CELLS; do
		with_baseline="$with_baseline $c"
		case "$c" in caddy-hop-* | forwardproxy-*) ;; *) with_baseline="$with_baseline $c@baseline" ;; esac
	done
	CELLS=$with_baseline
fi

work=$(mktemp -d)
pids=()
proxy_pid=
stop_proxy() {
	if [ -n "$proxy_pid" ]; then
		kill "$proxy_pid" 2>/dev/null || true
		wait "$proxy_pid" 2>/dev/null || true
		proxy_pid=
	fi
}
cleanup() {
	stop_proxy
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# building the load generator, and sovgate unless SOVGATE_BIN names one" >&2
if [ -n "${SOVGATE_BIN:-}" ]; then
	cp "$SOVGATE_BIN" "$work/sovgate"
else
	go build -o "$work/sovgate" ./cmd/sovgate
fi
go build -o "$work/load" ./tools/load
if [ -n "$BASELINE_BIN" ]; then
	cp "$BASELINE_BIN" "$work/sovgate-baseline"
fi

upstream=127.0.0.2:18080
"$work/load" upstream -listen "$upstream" 2>"$work/upstream.log" &
pids+=($!)
ulimit -n 65536 2>/dev/null || true

# caddyfile STORE SYNC: the gateway's configuration; STORE is none, sqlite or
# postgres (a fresh database per cell, so no cell inherits another's rows).
caddyfile() {
	local store=$1 sync=$2 dir=$3 audit_lines=""
	case "$store" in
	sqlite) audit_lines="audit $dir/audit.db
		audit_sync $sync" ;;
	postgres) audit_lines="audit $4
		audit_spool $dir/spool
		audit_sync $sync" ;;
	esac
	cat <<CADDY
{
	admin 127.0.0.1:2999
	sovereignty {
		mode enforce
		internal 127.0.0.2/32
		max_tunnels 100000
		$audit_lines
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
		output file $dir/decisions.log
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
	reverse_proxy $upstream
}
CADDY
}

# forwardproxy_caddyfile: Caddy with the forwardproxy module, the reference
# for new CONNECT tunnels, with the same reverse_proxy site.
forwardproxy_caddyfile() {
	cat <<CADDY
{
	admin 127.0.0.1:2999
	servers {
		timeouts {
			read_header 10s
			idle 2m
		}
	}
	log default {
		level WARN
	}
}

http://:3128 {
	bind 127.0.0.1
	route {
		forward_proxy {
			ports 18080
			acl {
				allow 127.0.0.2/32
			}
		}
	}
}
CADDY
}

pg_db=
pg_url() { # the --postgres URL with its database replaced
	local base=${POSTGRES%%\?*} query=""
	[ "$base" != "$POSTGRES" ] && query="?${POSTGRES#*\?}"
	echo "${base%/*}/$1$query"
}
drop_pg_db() {
	if [ -n "$pg_db" ]; then
		psql -q "$POSTGRES" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
		pg_db=
	fi
}

# ports_free: nothing else listens where the proxies do. Caddy binds with
# SO_REUSEPORT, so a gateway left running from another run would share the
# port without an error and take part of the load: the measured proxy's
# CPU, divided by every request served, would read low.
ports_free() {
	local busy
	if command -v ss >/dev/null; then
		busy=$(ss -Hltnp '( sport = :3128 or sport = :3129 or sport = :2999 )' 2>/dev/null || true)
	else
		for port in 3128 3129 2999; do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then busy="$busy 127.0.0.1:$port"; fi
		done
	fi
	if [ -n "$busy" ]; then
		echo "load.sh: something already listens on the proxies' ports (3128, 3129, 2999); stop it first:" >&2
		echo "$busy" >&2
		exit 1
	fi
}

# start_proxy CELL: a fresh proxy configured for the cell; waits until it
# forwards (and its reverse_proxy site answers).
start_proxy() {
	local cell=${1%@baseline} dir="$work/$1" bin="$work/sovgate" store=none sync=batched pgurl=""
	if [[ $1 == *@baseline ]]; then
		bin="$work/sovgate-baseline"
	fi
	rm -rf "$dir"
	mkdir -p "$dir"
	case "$cell" in
	sqlite-* | connect-sqlite-*) store=sqlite ;;
	strict-*) store=sqlite sync=strict ;;
	postgres-*)
		store=postgres
		pg_db="sovgate_load_$$_$RANDOM"
		psql -q "$POSTGRES" -c "CREATE DATABASE $pg_db" >/dev/null
		pgurl=$(pg_url "$pg_db")
		;;
	esac
	if [[ $cell == forwardproxy-* ]]; then
		bin=$FORWARDPROXY
		forwardproxy_caddyfile >"$dir/Caddyfile"
	else
		caddyfile "$store" "$sync" "$dir" "$pgurl" >"$dir/Caddyfile"
	fi
	ports_free
	# Read from disk as a deployed binary is (see the header).
	sync "$bin" 2>/dev/null || true
	dd if="$bin" iflag=nocache count=0 status=none 2>/dev/null || true
	"$bin" run --config "$dir/Caddyfile" --adapter caddyfile 2>"$dir/proxy.log" &
	proxy_pid=$!
	local deadline=$((SECONDS + 60))
	until curl -sf -o /dev/null -x http://127.0.0.1:3128 -U loadtest:x "http://$upstream/" &&
		{ [[ $cell != caddy-hop-* ]] || curl -sf -o /dev/null http://127.0.0.1:3129/; }; do
		if ! kill -0 "$proxy_pid" 2>/dev/null || [ $SECONDS -gt $deadline ]; then
			echo "load.sh: the proxy for $cell did not start; its log:" >&2
			cat "$dir/proxy.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

# run_cell CELL REP [extra load flags]: one measurement on a fresh proxy.
run_cell() {
	local cell=$1 rep=$2
	shift 2
	local base=${cell%@baseline}
	local clients=${base##*-} scenario=forward target="http://$upstream/"
	case "$cell" in
	caddy-hop-*) scenario=reverse target=http://127.0.0.1:3129/ ;;
	connect-* | forwardproxy-connect-*) scenario=connect-new ;;
	esac
	start_proxy "$cell"
	timeout "${run_timeout:-$((DURATION + 60))}" "$work/load" run -cell "$cell" -rep "$rep" -scenario "$scenario" \
		-clients "$clients" -duration "${DURATION}s" -pid "$proxy_pid" \
		-target "$target" -stats "http://$upstream/_stats" "$@" | tee -a "${into:-$results}"
	stop_proxy
	drop_pg_db
}

echo "# sovgate ${SOVGATE_BIN:-$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo '+changes')}, $REPS repetitions, ${DURATION}s per cell, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results"
read -r -a cells <<<"$CELLS"
for rep in $(seq "$REPS"); do
	# Each repetition starts one cell further along, so no cell always
	# runs first or last.
	n=${#cells[@]}
	for i in $(seq 0 $((n - 1))); do
		run_cell "${cells[$(((i + rep - 1) % n))]}" "$rep"
	done
done
echo "# load average at the end $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results"

if [ -n "$PROFILE" ]; then
	# A CPU profile of each cell of PROFILE_CELLS (Caddy's admin endpoint
	# serves net/http/pprof), taken in the middle of a longer run.
	cp "$work/sovgate" "$OUT/sovgate"
	for cell in ${PROFILE_CELLS:-sqlite-50}; do
		into="$OUT/profile-$cell.json" run_timeout=$((PROFILE + 120)) run_cell "$cell" 0 -duration "$((PROFILE + 4))s" >/dev/null &
		gen=$!
		# The proxy starts, then the run warms up for a second.
		for _ in $(seq 600); do
			[ -s "$OUT/profile-$cell.json" ] && break
			curl -sf -o /dev/null http://127.0.0.1:2999/config/ && break
			sleep 0.1
		done
		sleep 2
		curl -sf -o "$OUT/cpu-$cell.pprof" "http://127.0.0.1:2999/debug/pprof/profile?seconds=$PROFILE" || true
		wait "$gen"
		go tool pprof -top -nodecount=40 "$OUT/sovgate" "$OUT/cpu-$cell.pprof" >"$OUT/profile-$cell-top.txt" 2>/dev/null || true
		go tool pprof -top -cum -nodecount=60 "$OUT/sovgate" "$OUT/cpu-$cell.pprof" >"$OUT/profile-$cell-cum.txt" 2>/dev/null || true
		echo "# profile of $cell: $OUT/cpu-$cell.pprof (top entries in $OUT/profile-$cell-top.txt, cumulative in $OUT/profile-$cell-cum.txt)"
		sed -n '1,30p' "$OUT/profile-$cell-top.txt"
	done
fi

if [ -n "$EXTRAS" ]; then
	start_proxy sqlite-50
	x() { timeout $((DURATION + 60)) "$work/load" run -clients 50 -duration "${DURATION}s" -pid "$proxy_pid" -target "http://$upstream/" "$@" | tee -a "$OUT/extras.jsonl"; }
	x -scenario direct
	x -scenario direct-new
	x -scenario tunnel
	timeout 300 "$work/load" run -scenario idle-tunnels -clients "$IDLE_TUNNELS" -pid "$proxy_pid" -target "http://$upstream/" | tee -a "$OUT/extras.jsonl"
	stop_proxy
fi

ingest_failed=
if [ -n "$INGEST" ]; then
	# The writer at 22,000 records/s offered, 8 producers (audit/ingest's
	# benchmark); it fails if any record had to be spooled. A failure is
	# recorded as the cell's result, with the benchmark's reason, and the
	# other benchmark and the summary still run; the script then exits 1.
	ingest() {
		local status=0 reason
		SOVGATE_BENCH_RATE=22000 timeout 600 go test ./audit/ingest -run '^$' -bench "$1" -benchtime 200000x 2>&1 |
			tee "$OUT/$2.txt" || status=$?
		if [ "$status" -eq 0 ]; then
			awk -v cell="$2" '/records\/s/ { for (i = 1; i < NF; i++) if ($(i+1) == "records/s") printf "{\"cell\":\"%s\",\"scenario\":\"ingest\",\"per_second\":%s}\n", cell, $i }' "$OUT/$2.txt" |
				tee -a "$results"
			return
		fi
		# The benchmark's own message (written ... spooled ...), or the
		# first error a test file reported, else the exit status; made
		# safe for a JSON string.
		reason=$({ grep -m1 'spooled' "$OUT/$2.txt" || grep -m1 -E '^[[:space:]]+[[:alnum:]_]+\.go:[0-9]+: ' "$OUT/$2.txt" || true; } |
			sed -E 's/^[[:space:]]*[[:alnum:]_]+\.go:[0-9]+: //' | tr -d '\000-\037' | tr '"\\' "''")
		[ -n "$reason" ] || reason="go test exited with status $status"
		printf '{"cell":"%s","scenario":"ingest","per_second":0,"failure":"%s (%s)"}\n' "$2" "$reason" "$OUT/$2.txt" | tee -a "$results"
		ingest_failed=1
	}
	ingest 'IngestSQLite$' ingest-sqlite
	if [ -n "$POSTGRES" ]; then
		SOVGATE_TEST_POSTGRES=$POSTGRES ingest 'IngestPostgres$' ingest-postgres
	fi
fi

"$work/load" summary "$results" | tee "$OUT/summary.md"
echo "# results in $OUT"
if [ -n "$ingest_failed" ]; then
	echo "load.sh: an audit ingest benchmark failed (see the summary)" >&2
	exit 1
fi
