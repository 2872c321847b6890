package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminGuideUnixSocket runs the admin guide's example of an admin
// endpoint on a unix socket: the gateway starts with it, and the guide's
// curl command reads the status through the socket.
func TestAdminGuideUnixSocket(t *testing.T) {
	curl := requireTool(t, "curl", "apt-get install curl")
	guide := readAdminGuide(t)
	blocks := []string{adminGuideBlock(t, guide, "admin-socket"), adminGuideBlock(t, guide, "admin-socket-status")}
	const docSocket = "/run/sovgate/admin.sock"
	socket := filepath.Join(t.TempDir(), "admin.sock")
	global := strings.ReplaceAll(blocks[0], docSocket, socket)
	command := strings.ReplaceAll(strings.TrimSpace(blocks[1]), docSocket, socket)
	if !strings.Contains(global, socket) || !strings.Contains(command, socket) {
		t.Fatalf("the examples no longer use %s", docSocket)
	}
	// The guide's global options, with the sovereignty app and a proxy.
	global = strings.Replace(global, "{", "{\n\tsovereignty\n", 1)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	saveFile(t, cfg, fmt.Sprintf("%s\nhttp://:%d {\n\tbind 127.0.0.1\n\tsovereign_egress\n}\n", global, freePort(t)))

	cmd := exec.Command(sovgateBinary(t), "run", "--config", cfg, "--adapter", "caddyfile")
	cmd.Dir = t.TempDir()
	logPath := filepath.Join(t.TempDir(), "run.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	stopAtCleanup(t, cmd)
	args := strings.Fields(command)
	if args[0] != "curl" {
		t.Fatalf("the guide's command is not curl: %s", command)
	}
	var out []byte
	waitFor(t, func() bool {
		out, err = exec.Command(curl, args[1:]...).CombinedOutput()
		return err == nil
	}, command+" to answer through the socket")
	if err != nil {
		t.Fatalf("%s: %v\n%s\n%s", command, err, out, mustRead(logPath))
	}
	// The permissions the guide gives (0660), set once the socket is open.
	if st, err := os.Stat(socket); err != nil || st.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v %v, want 0660", st.Mode(), err)
	}
	var status struct {
		Mode string `json:"mode"`
	}
	if err := json.Unmarshal(out, &status); err != nil || status.Mode != "monitor" {
		t.Errorf("status through the socket: %v\n%s", err, out)
	}
}
