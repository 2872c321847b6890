package checkpoint

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// A checkpoint directory holds, per node, one append-only file a day:
//
//	DIR/<node>/2026-12-06.checkpoints
//
// Each checkpoint is written as its signed note followed by one blank
// line. The gateway appends (and fsyncs) each checkpoint as it signs it,
// so the directory can be a mount of another machine the database
// administrators cannot write to; a witness keeps the checkpoints it
// cosigned in the same layout, so `audit verify --checkpoints` reads
// either.

// DirExt is the extension of checkpoint files.
const DirExt = ".checkpoints"

// OriginDir is the directory of an origin's checkpoints under dir: its
// name escaped as in a URL path, so no origin names a directory elsewhere.
func OriginDir(dir, origin string) string {
	name := url.PathEscape(origin)
	if name == "." || name == ".." {
		name = strings.ReplaceAll(name, ".", "%2E")
	}
	return filepath.Join(dir, name)
}

// AppendToDir appends a signed checkpoint to the day's file of its origin
// under dir, and syncs it.
func AppendToDir(dir, origin string, signed []byte, now time.Time) error {
	sub := OriginDir(dir, origin)
	if err := os.MkdirAll(sub, 0o750); err != nil {
		return fmt.Errorf("checkpoint directory: %w", err)
	}
	path := filepath.Join(sub, now.UTC().Format("2006-01-02")+DirExt)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("checkpoint directory: %w", err)
	}
	buf := append(append([]byte(nil), signed...), '\n')
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint directory %s: %w", path, err)
	}
	return nil
}

// Raw is one signed checkpoint as found in a file, not yet verified.
type Raw struct {
	Note []byte
	// File and Line say where it was found.
	File string
	Line int
}

func (r Raw) String() string { return fmt.Sprintf("%s:%d", r.File, r.Line) }

// ReadDir reads every checkpoint under dir (a file of checkpoints is
// accepted too), in file name order. Damaged parts of a file (a write cut
// short) are returned as problems, not errors: the other checkpoints still
// count.
func ReadDir(dir string) (found []Raw, problems []string, err error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoints %s: %w", dir, err)
	}
	var files []string
	if !fi.IsDir() {
		files = []string{dir}
	} else if err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, DirExt) {
			files = append(files, path)
		}
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("checkpoints %s: %w", dir, err)
	}
	sort.Strings(files)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, fmt.Errorf("checkpoints: %w", err)
		}
		notes, bad := SplitNotes(data)
		for _, n := range notes {
			found = append(found, Raw{Note: n.Note, File: file, Line: n.Line})
		}
		for _, b := range bad {
			problems = append(problems, fmt.Sprintf("%s:%d: %s", file, b.Line, b.Problem))
		}
	}
	if len(found) == 0 && len(problems) == 0 {
		return nil, nil, fmt.Errorf("checkpoints %s: no checkpoint found (files named *%s)", dir, DirExt)
	}
	return found, problems, nil
}

// Split is one note of a checkpoint file, or a part that is not one.
type Split struct {
	Note    []byte
	Line    int
	Problem string
}

// SplitNotes cuts the content of a checkpoint file into its signed notes:
// text lines up to a blank line, then signature lines ("— " name
// signature), up to a blank line or the end.
func SplitNotes(data []byte) (notes, bad []Split) {
	lines := bytes.SplitAfter(data, []byte("\n"))
	i := 0
	for i < len(lines) {
		if len(lines[i]) == 0 || string(lines[i]) == "\n" {
			i++
			continue
		}
		start := i
		for i < len(lines) && len(lines[i]) > 0 && string(lines[i]) != "\n" {
			i++
		}
		// lines[start:i] is the text; a blank line, then signatures.
		if i >= len(lines) || len(lines[i]) == 0 {
			bad = append(bad, Split{Line: start + 1, Problem: "a checkpoint without signatures (a write cut short?)"})
			break
		}
		i++
		sigStart := i
		for i < len(lines) && bytes.HasPrefix(lines[i], []byte("— ")) && bytes.HasSuffix(lines[i], []byte("\n")) {
			i++
		}
		if i == sigStart {
			bad = append(bad, Split{Line: start + 1, Problem: "a checkpoint without signatures"})
			continue
		}
		notes = append(notes, Split{Note: bytes.Join(lines[start:i], nil), Line: start + 1})
		if i < len(lines) && len(lines[i]) > 0 && string(lines[i]) != "\n" {
			bad = append(bad, Split{Line: i + 1, Problem: "unexpected line after the signatures"})
			for i < len(lines) && len(lines[i]) > 0 && string(lines[i]) != "\n" {
				i++
			}
		}
	}
	return notes, bad
}
