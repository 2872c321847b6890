package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/audittest/tamper"
	"github.com/sovgate/sovgate/audit/checkpoint"
)

// TestCheckpointsCatchRewrites runs the gateway binary with signed
// checkpoints written to a directory and cosigned by a `sovgate witness`
// process, on SQLite and on PostgreSQL. Then, on copies of the store, it
// makes the three rewrites that someone with write access to the database
// can make and that the hash chain alone does not show: the end of the log
// cut with its head moved back, a decision deleted and every later entry
// re-hashed, every table emptied. Without checkpoints `audit verify` says
// intact (exit 0), as it did before checkpoints existed; against the
// gateway's checkpoint directory, and against the witness's, it exits 4
// naming the node and the tree size where the store and the checkpoint
// part. Its exchanges end at once, so in batched mode each decision and its
// completion are one entry: the log of merged records verifies, and their
// proofs check, like any other.
func TestCheckpointsCatchRewrites(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	w := newWorld(t)
	audittest.Backends(t, func(t *testing.T, location string) {
		dir := t.TempDir()
		cpDir, witnessDir := filepath.Join(dir, "checkpoints"), filepath.Join(dir, "witness")
		key, _, err := checkpoint.LoadOrCreateKey(filepath.Join(dir, "gw.key"), "gw-e2e")
		if err != nil {
			t.Fatal(err)
		}
		wit := startWitness(t, dir, witnessDir, key.Verifier)
		g := startAuditGateway(t, w, dir, fmt.Sprintf(`audit %s
		audit_checkpoints %s
		audit_checkpoint_interval 100ms
		audit_signing_key %s
		audit_witness %s %s
		node gw-e2e`, location, cpDir, filepath.Join(dir, "gw.key"), wit.url, wit.key))
		proxyAddr, adminAddr := g.proxyAddr, g.adminAddr
		proxy, _ := url.Parse("http://" + proxyAddr)
		client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: 5 * time.Second}
		// Three bursts of traffic, each covered by a checkpoint before the
		// next: the checkpoints have three sizes.
		var sizes []int64
		for burst := range 3 {
			for i := range 12 {
				resp, err := client.Get(fmt.Sprintf("http://%s:%d/burst/%d/%d", []string{"eu.test", "us.test", "ovh.test"}[i%3], w.httpPort, burst, i))
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			sizes = append(sizes, waitCheckpointed(t, adminAddr, sizes))
		}
		g.stop(t)
		secret, _ := os.ReadFile(filepath.Join(dir, "gw.key"))
		if log := mustRead(g.log.Name()); strings.Contains(log, strings.TrimSpace(string(secret))) || strings.Contains(log, "PRIVATE+KEY") {
			t.Fatal("the signing key is in the gateway's log")
		}
		vkey := filepath.Join(dir, "gw.vkey")
		os.WriteFile(vkey, []byte(key.Verifier+"\n"), 0o644)
		if res := runSovgate(t, "audit", "verify", "--audit", location, "--checkpoints", cpDir, "--key", vkey); res.exit != 0 ||
			!strings.Contains(res.stdout, "intact") || !strings.Contains(res.stdout, "next time: --from gw-e2e:") {
			t.Fatalf("the log as written: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
		}
		// The exchanges ended at once: in batched mode each decision was
		// written with its completion as one entry, and the proofs below
		// are of such records.
		if res := runSovgate(t, "audit", "verify", "--audit", location); !strings.Contains(res.stdout, "with their completion in the same entry") {
			t.Errorf("no decision merged with its completion:\n%s", res.stdout)
		}
		if raws, _, err := checkpoint.ReadDir(witnessDir); err != nil || len(raws) < 3 {
			t.Fatalf("the witness cosigned %d checkpoints (%v)", len(raws), err)
		}
		checkProofs(t, dir, location, vkey, wit.key)

		for _, tc := range []struct {
			name            string
			rewrite         func(t *testing.T, copy string)
			treeSize, agree int64
		}{
			{"cut tail, head moved back", func(t *testing.T, c string) { tamper.CutTail(t, c, "gw-e2e", sizes[1]+1) }, sizes[2], sizes[1]},
			{"decision deleted, chain re-hashed", func(t *testing.T, c string) { tamper.DeleteAndRehash(t, c, "gw-e2e", sizes[0]+1) }, sizes[1], sizes[0]},
			{"store emptied", func(t *testing.T, c string) { tamper.Empty(t, c) }, sizes[0], 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				copied := copyStore(t, location)
				tc.rewrite(t, copied)
				if res := runSovgate(t, "audit", "verify", "--audit", copied); res.exit != 0 {
					t.Fatalf("without checkpoints the rewrite should pass unseen (exit 0), as before checkpoints existed: exit %d\n%s", res.exit, res.stdout)
				}
				for _, cps := range []string{cpDir, witnessDir} {
					res := runSovgate(t, "audit", "verify", "--audit", copied, "--checkpoints", cps, "--key", vkey)
					// verify names the first checkpoint the log departs
					// from: the one the test waited for after the burst,
					// or one signed in the middle of that burst (every
					// 100 ms; a burst under -race can take longer).
					first := firstSignedAbove(t, cps, "gw-e2e", tc.agree)
					if first <= tc.agree || first > tc.treeSize {
						t.Fatalf("%s: the first checkpoint above tree size %d is at %d; want one at %d at the latest", cps, tc.agree, first, tc.treeSize)
					}
					want := fmt.Sprintf("node gw-e2e, tree size %d", first)
					if res.exit != 4 || !strings.Contains(res.stdout, "AUDIT LOG TAMPERED") || !strings.Contains(res.stdout, want) {
						t.Fatalf("verify against %s: exit %d, want 4 naming %q\n%s%s", cps, res.exit, want, res.stdout, res.stderr)
					}
					if tc.agree > 0 && !strings.Contains(res.stdout, fmt.Sprintf("agrees with the checkpoint of tree size %d", tc.agree)) {
						t.Errorf("verify does not say where the log still agrees:\n%s", res.stdout)
					}
				}
			})
		}
	})
}

// TestWitnessDownNeverFailsRequests runs the gateway binary in enforce
// mode with a witness that does not answer (nothing listens on its port):
// allowed requests are forwarded, and the status page counts the
// witness's failures while checkpoints go on being signed.
func TestWitnessDownNeverFailsRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	w := newWorld(t)
	dir := t.TempDir()
	g := startAuditGateway(t, w, dir, fmt.Sprintf(`mode enforce
		audit %s
		audit_sync strict
		audit_checkpoint_interval 100ms
		audit_witness http://127.0.0.1:%d
		node gw-enforce`, filepath.Join(dir, "audit.db"), freePort(t)))
	proxyAddr, adminAddr := g.proxyAddr, g.adminAddr
	proxy, _ := url.Parse("http://" + proxyAddr)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: 5 * time.Second}
	get := func(i int) {
		t.Helper()
		resp, err := client.Get(fmt.Sprintf("http://eu.test:%d/witness-down/%d", w.httpPort, i))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d with the witness down", i, resp.StatusCode)
		}
	}
	var st struct {
		Counters map[string]int64 `json:"counters"`
	}
	for i := range 5 {
		get(i)
	}
	waitFor(t, func() bool {
		resp, err := http.Get("http://" + adminAddr + "/sovereignty/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Counters["audit_witness_failures"] >= 2 && st.Counters["audit_checkpoints_signed"] >= 1
	}, "witness failures counted and checkpoints signed")
	for i := 5; i < 10; i++ {
		get(i)
	}
	if st.Counters["audit_witness_cosignatures"] != 0 {
		t.Errorf("counters %v", st.Counters)
	}
}

// checkProofs proves decisions of the store with `sovgate audit prove` and
// checks the proofs with `sovgate audit verify-proof`, which gets nothing
// but the file and the keys.
func checkProofs(t *testing.T, dir, location, gatewayKey, witnessKey string) {
	t.Helper()
	res := runSovgate(t, "audit", "query", "--audit", location, "--format", "json", "--limit", "0")
	var recs []struct {
		ID        string `json:"id"`
		Host      string `json:"host"`
		Completed bool   `json:"completed"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &recs); err != nil || len(recs) < 30 {
		t.Fatalf("audit query: %v (%d records)\n%s", err, len(recs), res.stderr)
	}
	keys := filepath.Join(dir, "keys.txt")
	os.WriteFile(keys, []byte(readKey(t, gatewayKey)+"\n"+witnessKey+"\n"), 0o644)
	for _, rec := range []int{0, len(recs) / 2, len(recs) - 1} {
		id := recs[rec].ID
		file := filepath.Join(dir, id+".proof.json")
		if res := runSovgate(t, "audit", "prove", id, "--audit", location, "-o", file); res.exit != 0 {
			t.Fatalf("prove %s: exit %d\n%s%s", id, res.exit, res.stdout, res.stderr)
		}
		res := runSovgate(t, "audit", "verify-proof", "--key", readKey(t, gatewayKey), "--key", witnessKey, file)
		if res.exit != 0 || !strings.Contains(res.stdout, "proof valid: decision "+id) || !strings.Contains(res.stdout, "gw-e2e, witness-e2e") {
			t.Fatalf("verify-proof %s: exit %d\n%s%s", id, res.exit, res.stdout, res.stderr)
		}
		if recs[rec].Completed && !strings.Contains(res.stdout, "exchange ended") {
			t.Errorf("the proof of a completed exchange does not show its bytes:\n%s", res.stdout)
		}
		// The gateway's key alone cannot check the witness's cosignature.
		if res := runSovgate(t, "audit", "verify-proof", "--key", gatewayKey, file); res.exit != 4 || !strings.Contains(res.stdout, "witness-e2e") {
			t.Fatalf("verify-proof without the witness's key: exit %d\n%s", res.exit, res.stdout)
		}
		data, _ := os.ReadFile(file)
		for _, at := range []int{10, len(data) / 3, len(data) / 2, len(data) - 5} {
			bad := append([]byte(nil), data...)
			bad[at] ^= 0x01
			altered := filepath.Join(dir, "altered.json")
			os.WriteFile(altered, bad, 0o644)
			if res := runSovgate(t, "audit", "verify-proof", "--key", keys, altered); res.exit != 4 || !strings.Contains(res.stdout, "PROOF NOT VALID") {
				t.Fatalf("byte %d altered: exit %d\n%s", at, res.exit, res.stdout)
			}
		}
	}
	if res := runSovgate(t, "audit", "prove", "no-such-decision", "--audit", location); res.exit != 1 || !strings.Contains(res.stderr, "no decision with this id") {
		t.Fatalf("prove of an unknown id: exit %d\n%s", res.exit, res.stderr)
	}
}

func readKey(t *testing.T, file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// startAuditGateway runs the gateway binary on a Caddyfile of the world w
// (its GeoIP databases and DNS server, loopback upstreams allowed) with
// the given sovereignty options added, proxying on a free port.
func startAuditGateway(t *testing.T, w *world, dir, options string) *liveGateway {
	t.Helper()
	port := freePort(t)
	proxyAddr, adminAddr := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	caddyfile := filepath.Join(dir, "Caddyfile")
	cfg := fmt.Sprintf(`{
	admin %s
	persist_config off
	sovereignty {
		geoip_country %s
		geoip_asn %s
		geoip_registration %s
		resolver %s
		allow_private 127.0.0.0/29
		%s
	}
}

http://:%d {
	bind 127.0.0.1
	sovereign_egress
}
`, adminAddr, w.countryDB, w.asnDB, w.registrationDB, w.dns.Addr(), options, port)
	if err := os.WriteFile(caddyfile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return startBinaryGateway(t, dir, caddyfile, proxyAddr, adminAddr)
}

type witnessProcess struct{ url, key string }

// startWitness runs `sovgate witness` for the gateway key vkey.
func startWitness(t *testing.T, dir, stateDir, vkey string) witnessProcess {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(sovgateBinary(t), "witness", "--dir", stateDir, "--key", filepath.Join(dir, "witness.key"), "--name", "witness-e2e", "--log", vkey, "--listen", addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, _ := os.Create(filepath.Join(dir, "witness.log"))
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		logf.Close()
	})
	sc := bufio.NewScanner(out)
	var key string
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "verifier key"); ok {
			key = v[strings.LastIndex(v, " ")+1:]
			break
		}
	}
	if _, err := note.NewVerifier(key); err != nil {
		t.Fatalf("the witness printed no verifier key (%q): %s", key, mustRead(logf.Name()))
	}
	go io.Copy(io.Discard, out)
	return witnessProcess{url: "http://" + addr, key: key}
}

// waitCheckpointed waits until the gateway has signed, and the witness
// cosigned, a checkpoint of everything the store holds, larger than the

// firstSignedAbove is the smallest tree size above agree among the
// checkpoints of node in dir, or 0 if there is none.
func firstSignedAbove(t *testing.T, dir, node string, agree int64) int64 {
	t.Helper()
	raws, _, err := checkpoint.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var first int64
	for _, r := range raws {
		// The note's text: origin, tree size, root hash.
		lines := strings.SplitN(string(r.Note), "\n", 3)
		if len(lines) < 3 || lines[0] != node {
			continue
		}
		size, err := strconv.ParseInt(lines[1], 10, 64)
		if err != nil || size <= agree {
			continue
		}
		if first == 0 || size < first {
			first = size
		}
	}
	return first
}

// ones before; it returns its tree size.
func waitCheckpointed(t *testing.T, adminAddr string, before []int64) int64 {
	t.Helper()
	var size int64
	waitFor(t, func() bool {
		resp, err := http.Get("http://" + adminAddr + "/sovereignty/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct {
			Audit struct {
				QueueDepth int `json:"queue_depth"`
				Heads      []struct {
					Node string
					Seq  int64
				}
				Checkpoints struct {
					LastSize         int64 `json:"last_size"`
					WitnessesPending int   `json:"witnesses_pending"`
					Cosigned         int64 `json:"cosigned"`
				} `json:"checkpoints"`
			} `json:"audit"`
		}
		if json.NewDecoder(resp.Body).Decode(&st) != nil || len(st.Audit.Heads) != 1 {
			return false
		}
		a := st.Audit
		size = a.Checkpoints.LastSize
		fresh := len(before) == 0 || size > before[len(before)-1]
		return a.QueueDepth == 0 && fresh && size == a.Heads[0].Seq && a.Checkpoints.WitnessesPending == 0 && a.Checkpoints.Cosigned > 0
	}, "a cosigned checkpoint of the whole log")
	return size
}

// copyStore copies a stopped gateway's store: the SQLite file, or the
// PostgreSQL database.
func copyStore(t *testing.T, location string) string {
	t.Helper()
	if strings.HasPrefix(location, "postgres") {
		return audittest.CopyDatabase(t, location)
	}
	copied := filepath.Join(t.TempDir(), "audit.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		data, err := os.ReadFile(location + suffix)
		if err != nil && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(copied+suffix, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return copied
}
