package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/sovgate/sovgate/policies"
)

// Bundle is a policy bundle: where its files are, and how to name them.
//
// The bundle follows OPA's bundle layout: every *.rego file is a module, and a
// data file dir/sub/data.json (or data.yaml) becomes data.dir.sub. Files whose
// name ends in _test.rego hold unit tests: RunTests and Check read them, the
// production Engine does not. Hidden files and directories (".git",
// Kubernetes' "..data") and every other file are ignored, so a README or an
// OPA .manifest can sit next to the policies.
type Bundle struct {
	// FS holds the files.
	FS fs.FS
	// Dir says where FS comes from, for people: diagnostics name a file as
	// Dir joined with its path inside FS ("/etc/sovgate/policies" gives
	// "/etc/sovgate/policies/sovgate/decision.rego"). A Dir ending in ":" is
	// a plain prefix: "embedded:" gives "embedded:sovgate/decision.rego".
	Dir string
}

// DirBundle is the policy directory dir on disk.
func DirBundle(dir string) Bundle {
	return Bundle{FS: os.DirFS(dir), Dir: dir}
}

// EmbeddedBundle is the default policy bundle compiled into the binary
// (package policies).
func EmbeddedBundle() Bundle {
	return Bundle{FS: policies.FS(), Dir: "embedded:"}
}

// Snapshot reads the policy files of b (tests included) into memory and
// returns a Bundle over that copy, with the same Dir. Gating a reload with
// RunTests and then calling Load on the snapshot tests exactly the bytes that
// get activated, even if someone saves a file in between.
func (b Bundle) Snapshot() (Bundle, error) {
	files, diags, err := readSource(b, true)
	if err != nil {
		return Bundle{}, err
	}
	if len(diags) > 0 {
		return Bundle{}, fmt.Errorf("read policies from %s: %w", b.Name(), diags)
	}
	mfs := make(fstest.MapFS, len(files))
	for _, f := range files {
		mfs[f.rel] = &fstest.MapFile{Data: f.raw, Mode: 0o444}
	}
	return Bundle{FS: mfs, Dir: b.Dir}, nil
}

// Name is how the bundle is shown in status pages and logs: the directory,
// or "embedded".
func (s Bundle) Name() string {
	if s.Dir == "" {
		return "(unnamed)"
	}
	return strings.TrimSuffix(s.Dir, ":")
}

// displayPath is the name of the file rel (a slash path inside FS) as the user
// knows it.
func (s Bundle) displayPath(rel string) string {
	switch {
	case s.Dir == "":
		return rel
	case strings.HasSuffix(s.Dir, ":"):
		return s.Dir + rel
	default:
		return filepath.Join(s.Dir, filepath.FromSlash(rel))
	}
}

// maxFileSize bounds what we read from one policy file. Real policies and
// data are kilobytes; a huge file is a mistake (a database dump copied into
// the policy directory) and must not exhaust memory at reload.
const maxFileSize = 32 << 20

type fileKind int

const (
	kindModule fileKind = iota
	kindTest
	kindData
)

// sourceFile is one policy file read from a Bundle.
type sourceFile struct {
	rel     string // slash path inside the FS
	display string // path shown to people
	kind    fileKind
	raw     []byte
}

// readSource lists and reads the policy files of src in lexical order. Test
// modules are read only when withTests is set. The error is for a source that
// cannot be listed at all; problems with single files are diagnostics.
func readSource(src Bundle, withTests bool) ([]sourceFile, Diagnostics, error) {
	if src.FS == nil {
		return nil, nil, errors.New("policy source has no file system")
	}
	var files []sourceFile
	var diags Diagnostics
	err := fs.WalkDir(src.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			diags = append(diags, errorf(src.displayPath(p), CodeLoadError, "%v", unwrapPathError(err)))
			return nil
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		kind, ok := classify(p)
		if !ok || (kind == kindTest && !withTests) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// Follow links to files (Kubernetes mounts ConfigMap keys as
			// links), never links to directories (loops).
			info, err := fs.Stat(src.FS, p)
			if err != nil {
				diags = append(diags, errorf(src.displayPath(p), CodeLoadError, "%v", unwrapPathError(err)))
				return nil
			}
			if !info.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		raw, err := readLimited(src.FS, p)
		if err != nil {
			diags = append(diags, errorf(src.displayPath(p), CodeLoadError, "%v", err))
			return nil
		}
		files = append(files, sourceFile{rel: p, display: src.displayPath(p), kind: kind, raw: raw})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read policies from %s: %w", src.Name(), err)
	}
	return files, diags, nil
}

func classify(p string) (fileKind, bool) {
	base := path.Base(p)
	switch {
	case strings.HasSuffix(base, "_test.rego"):
		return kindTest, true
	case strings.HasSuffix(base, ".rego"):
		return kindModule, true
	case base == "data.json" || base == "data.yaml" || base == "data.yml":
		return kindData, true
	}
	return 0, false
}

func readLimited(fsys fs.FS, p string) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if len(raw) > maxFileSize {
		return nil, fmt.Errorf("file is larger than %d MiB", maxFileSize>>20)
	}
	return raw, nil
}

// unwrapPathError drops the fs.PathError's path, which is relative to the FS
// and would repeat (wrongly) the file name the diagnostic already shows.
func unwrapPathError(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// parsedBundle is the parsed content of a Bundle.
type parsedBundle struct {
	// modules are keyed by display path, which is also each module's
	// Location.File, so compiler errors name files as the user knows them.
	modules map[string]*ast.Module
	// data is the document under data, built from the data files.
	data map[string]any
	// revision identifies the bytes of every file read (see Engine.Revision).
	revision string
	// dataFiles maps a data path ("sovgate") to the file that defined it,
	// and dataRaw to that file's bytes (to point diagnostics at a line).
	dataFiles map[string]string
	dataRaw   map[string][]byte
}

// parseFiles parses the modules (Rego v1) and decodes the data files. It
// reports every problem, not just the first, so one `policy check` run shows
// them all.
func parseFiles(files []sourceFile) (*parsedBundle, Diagnostics) {
	b := &parsedBundle{
		modules:   make(map[string]*ast.Module),
		data:      make(map[string]any),
		dataFiles: make(map[string]string),
		dataRaw:   make(map[string][]byte),
	}
	var diags Diagnostics
	opts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	for _, f := range files {
		switch f.kind {
		case kindModule, kindTest:
			m, err := ast.ParseModuleWithOpts(f.display, util.ByteSliceToString(f.raw), opts)
			if err != nil {
				diags = append(diags, diagnosticsFromError(f.display, err)...)
				continue
			}
			if m == nil {
				diags = append(diags, errorf(f.display, ast.ParseErr, "empty module: a policy file needs a package declaration"))
				continue
			}
			b.modules[f.display] = m
		case kindData:
			value, d := decodeData(f)
			if d != nil {
				diags = append(diags, *d)
				continue
			}
			if d := b.insertData(f, value); d != nil {
				diags = append(diags, *d)
			}
		}
	}
	b.revision = hashFiles(files)[:12]
	return b, diags
}

func decodeData(f sourceFile) (any, *Diagnostic) {
	var value any
	if path.Ext(f.rel) == ".json" {
		dec := json.NewDecoder(bytes.NewReader(f.raw))
		dec.UseNumber()
		err := dec.Decode(&value)
		if err == nil && dec.More() {
			err = errors.New("unexpected content after the JSON value")
		}
		if err != nil {
			d := Diagnostic{File: f.display, Code: CodeLoadError, Message: "invalid JSON: " + err.Error()}
			var offset int64 = -1
			if se, ok := errors.AsType[*json.SyntaxError](err); ok {
				// Offset counts the offending byte: point at it.
				offset = max(se.Offset-1, 0)
			} else if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
				offset = te.Offset
			} else if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				offset = int64(len(f.raw))
			}
			if offset >= 0 {
				d.Row, d.Col = lineCol(f.raw, offset)
			}
			return nil, &d
		}
	} else if err := util.Unmarshal(f.raw, &value); err != nil {
		return nil, &Diagnostic{File: f.display, Code: CodeLoadError, Message: "invalid YAML: " + err.Error()}
	}
	return value, nil
}

// lineCol converts a byte offset into a 1-based row and column.
func lineCol(raw []byte, offset int64) (int, int) {
	if offset > int64(len(raw)) {
		offset = int64(len(raw))
	}
	before := raw[:offset]
	row := bytes.Count(before, []byte{'\n'}) + 1
	col := int(offset) - bytes.LastIndexByte(before, '\n')
	return row, col
}

// insertData puts value at the data path of its file's directory, merging
// objects as OPA does when several bundles share a parent path.
func (b *parsedBundle) insertData(f sourceFile, value any) *Diagnostic {
	dir := path.Dir(f.rel)
	var keys []string
	if dir != "." {
		keys = strings.Split(dir, "/")
	}
	key := strings.Join(keys, ".")
	if prev, ok := b.dataFiles[key]; ok {
		d := errorf(f.display, CodeLoadError, "%s is already defined by %s", dataPathName(keys), prev)
		return &d
	}
	b.dataFiles[key] = f.display
	b.dataRaw[key] = f.raw
	if len(keys) == 0 {
		obj, ok := value.(map[string]any)
		if !ok {
			d := errorf(f.display, CodeLoadError, "the data file at the top of the bundle must hold an object")
			return &d
		}
		if err := mergeInto(b.data, obj, "data"); err != nil {
			d := errorf(f.display, CodeLoadError, "%v", err)
			return &d
		}
		return nil
	}
	node := b.data
	for i, k := range keys[:len(keys)-1] {
		next, ok := node[k]
		if !ok {
			child := make(map[string]any)
			node[k] = child
			node = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			d := errorf(f.display, CodeLoadError, "%s is not an object", dataPathName(keys[:i+1]))
			return &d
		}
		node = child
	}
	last := keys[len(keys)-1]
	existing, ok := node[last]
	if !ok {
		node[last] = value
		return nil
	}
	eo, ok1 := existing.(map[string]any)
	vo, ok2 := value.(map[string]any)
	if !ok1 || !ok2 {
		d := errorf(f.display, CodeLoadError, "%s conflicts with data from another file", dataPathName(keys))
		return &d
	}
	if err := mergeInto(eo, vo, dataPathName(keys)); err != nil {
		d := errorf(f.display, CodeLoadError, "%v", err)
		return &d
	}
	return nil
}

func mergeInto(dst, src map[string]any, at string) error {
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := src[k]
		old, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		oo, ok1 := old.(map[string]any)
		vo, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("%s.%s is defined by two data files", at, k)
		}
		if err := mergeInto(oo, vo, at+"."+k); err != nil {
			return err
		}
	}
	return nil
}

// dataPathName shows a data path the way Rego spells it: data.sovgate.apps.
func dataPathName(keys []string) string {
	if len(keys) == 0 {
		return "data"
	}
	return "data." + strings.Join(keys, ".")
}
