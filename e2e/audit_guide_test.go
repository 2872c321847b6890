package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/audittest/tamper"
	"github.com/sovgate/sovgate/audit/checkpoint"
	"github.com/sovgate/sovgate/audit/proof"
	"github.com/sovgate/sovgate/audit/store"
)

// TestAuditorGuide runs every `sovgate audit` command of
// docs/auditor-guide.md, then of its French sections
// (docs/auditor-guide.fr.md), against the fixture store (October 2026,
// node gw-lyon-1), in a directory holding audit.db and copies of it
// altered as the guide says (see auditorGuideFiles). A command is expected
// to exit 0, or the status its line names in a trailing comment (# exit 4).
func TestAuditorGuide(t *testing.T) {
	english, err := os.ReadFile("../docs/auditor-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	french, err := os.ReadFile("../docs/auditor-guide.fr.md")
	if err != nil {
		t.Fatal(err)
	}
	guide := append(append(english, '\n'), french...)
	dir := t.TempDir()
	storePath := filepath.Join(dir, "audit.db")
	writeFixtureStore(t, storePath, 400)
	s, err := store.OpenExisting(context.Background(), storePath)
	if err != nil {
		t.Fatal(err)
	}
	heads, err := s.Heads(context.Background())
	s.Close()
	if err != nil || len(heads) != 1 {
		t.Fatal(heads, err)
	}
	if !strings.Contains(string(guide), heads[0].String()) {
		t.Errorf("the guide's anchor is not the fixture's head %s: update docs/auditor-guide.md", heads[0])
	}
	data, _ := os.ReadFile(storePath)
	tampered := filepath.Join(dir, "tampered.db")
	if err := os.WriteFile(tampered, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", tampered)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_log SET verdict = 'allow', action = 'forwarded', reasons = '[]' WHERE id = '01920000-0000-7000-8000-00000000017d' AND kind = 'decision'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	auditorGuideFiles(t, dir, storePath)

	commands := guideCommands(string(guide))
	if len(commands) < 16 {
		t.Fatalf("found %d sovgate audit commands in the guide", len(commands))
	}
	for _, c := range commands {
		t.Run(c.line, func(t *testing.T) {
			cmd := exec.Command(sovgateBinary(t), c.args...)
			cmd.Dir = dir
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if c.redirect != "" {
				f, err := os.Create(filepath.Join(dir, c.redirect))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				cmd.Stdout = f
			}
			err := cmd.Run()
			exit := 0
			if ee, ok := err.(*exec.ExitError); ok {
				exit = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if exit != c.exit {
				t.Fatalf("exit %d, want %d\n%s%s", exit, c.exit, stdout.String(), stderr.String())
			}
			if c.redirect == "" && strings.TrimSpace(stdout.String()) == "" && !strings.Contains(c.line, " -o ") {
				t.Errorf("no output")
			}
		})
	}
}

type guideCommand struct {
	line     string
	args     []string
	redirect string
	exit     int
}

var exitComment = regexp.MustCompile(`#\s*exit (\d+)\s*$`)

// guideCommands extracts the `sovgate audit` lines of the sh blocks.
func guideCommands(md string) []guideCommand {
	var out []guideCommand
	inBlock := false
	sc := bufio.NewScanner(strings.NewReader(md))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "```") {
			inBlock = line == "```sh"
			continue
		}
		line = strings.TrimPrefix(line, "$ ")
		if !inBlock || !strings.HasPrefix(line, "sovgate audit ") {
			continue
		}
		c := guideCommand{line: line}
		if m := exitComment.FindStringSubmatch(line); m != nil {
			c.exit = int(m[1][0] - '0')
		}
		if i := strings.Index(line, "#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if i := strings.Index(line, " > "); i >= 0 {
			c.redirect = strings.TrimSpace(line[i+3:])
			line = line[:i]
		}
		c.args = shellWords(line)[1:]
		out = append(out, c)
	}
	return out
}

// shellWords splits a command line as sh would for the simple quoting the
// guide uses ('...' and "...").
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// auditorGuideFiles writes what the checkpoint and proof sections of the
// guide use beside audit.db: the gateway's verifier key (gw-lyon-1.vkey),
// its checkpoint directory (checkpoints/, signed at tree sizes 250, 500
// and 740), rewritten.db (the last 140 entries cut and the head moved
// back, which the chain alone does not show), and altered.proof.json (the
// proof of decision ...017d with one byte of its record changed: 65536
// bytes received become 65537).
func auditorGuideFiles(t *testing.T, dir, storePath string) {
	t.Helper()
	key, _, err := checkpoint.LoadOrCreateKey(filepath.Join(dir, "gw-lyon-1.key"), "gw-lyon-1")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "gw-lyon-1.vkey"), []byte(key.Verifier+"\n"), 0o644)
	s, err := store.OpenExisting(context.Background(), storePath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return s.TreeHashes(context.Background(), "gw-lyon-1", idx) })
	for i, size := range []int64{250, 500, 740} {
		root, err := tlog.TreeHash(size, reader)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := checkpoint.Sign(checkpoint.Checkpoint{Origin: "gw-lyon-1", Size: size, Root: root}, key.Signer)
		if err := checkpoint.AppendToDir(filepath.Join(dir, "checkpoints"), "gw-lyon-1", msg, fixtureMonth.Add(time.Duration(i)*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	rewritten := filepath.Join(dir, "rewritten.db")
	data, _ := os.ReadFile(storePath)
	os.WriteFile(rewritten, data, 0o600)
	tamper.CutTail(t, rewritten, "gw-lyon-1", 600)

	raws, _, err := checkpoint.ReadDir(filepath.Join(dir, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	view, release, _ := s.Snapshot(context.Background())
	defer release()
	p, err := proof.Build(context.Background(), view, "01920000-0000-7000-8000-00000000017d", raws)
	if err != nil {
		t.Fatal(err)
	}
	proofData, _ := p.Encode()
	proofData = bytes.Replace(proofData, []byte(`"bytes_down": 65536`), []byte(`"bytes_down": 65537`), 1)
	os.WriteFile(filepath.Join(dir, "altered.proof.json"), proofData, 0o644)
}
