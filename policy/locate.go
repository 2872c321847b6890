package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// diagAtPath is a diagnostic about the data at path (object keys as
// strings, list positions as ints, from the root of data: "sovgate",
// "exceptions", "2026-017", "covers"), pointing at the file that defines it
// and, for a JSON file, at the line of the deepest part of path the file
// has.
func (b *parsedBundle) diagAtPath(dataPath []any, format string, args ...any) Diagnostic {
	d := Diagnostic{Code: CodeDataProblem, Message: fmt.Sprintf(format, args...)}
	// The most specific data file whose directory is a prefix of path.
	var keys []string
	for _, step := range dataPath {
		s, ok := step.(string)
		if !ok {
			break
		}
		keys = append(keys, s)
	}
	for i := len(keys); i >= 0; i-- {
		key := strings.Join(keys[:i], ".")
		file, ok := b.dataFiles[key]
		if !ok {
			continue
		}
		d.File = file
		if path.Ext(file) == ".json" {
			raw := b.dataRaw[key]
			d.Row, d.Col = lineCol(raw, jsonOffset(raw, dataPath[i:]))
		}
		return d
	}
	d.File = "data.json"
	return d
}

// jsonOffset returns where, in the JSON document raw, the member at path
// starts (the key of an object member, the value of a list element), or
// where the deepest part of path that exists does; 0 for the document
// itself.
func jsonOffset(raw []byte, steps []any) int64 {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var at int64
	for _, step := range steps {
		tok, err := dec.Token()
		if err != nil {
			return at
		}
		delim, _ := tok.(json.Delim)
		found := false
		switch want := step.(type) {
		case string:
			if delim != '{' {
				return at
			}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return at
				}
				if key, _ := kt.(string); key == want {
					at, found = keyStart(raw, dec.InputOffset()), true
					break
				}
				if skipJSONValue(dec) != nil {
					return at
				}
			}
		case int:
			if delim != '[' {
				return at
			}
			for i := 0; dec.More(); i++ {
				if i == want {
					at, found = valueStart(raw, dec.InputOffset()), true
					break
				}
				if skipJSONValue(dec) != nil {
					return at
				}
			}
		}
		if !found {
			return at
		}
	}
	return at
}

// skipJSONValue reads the next value whole.
func skipJSONValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// keyStart is the opening quote of the key that ends at end.
func keyStart(raw []byte, end int64) int64 {
	for i := end - 2; i >= 0; i-- {
		if raw[i] == '"' && (i == 0 || raw[i-1] != '\\') {
			return i
		}
	}
	return 0
}

// valueStart is the first byte of the value that follows offset.
func valueStart(raw []byte, offset int64) int64 {
	for offset < int64(len(raw)) && bytes.IndexByte([]byte(" \t\r\n,[:"), raw[offset]) >= 0 {
		offset++
	}
	return offset
}
