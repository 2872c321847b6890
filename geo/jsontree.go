package geo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// jsonNode is a JSON value with the byte offset where it starts, so a
// mistake in a data file can be shown as file:line:col. Object members keep
// their order and duplicates (encoding/json would silently keep the last of
// two equal keys, hiding an operator written twice).
type jsonNode struct {
	offset  int64
	kind    jsonKind
	str     string      // jsonString
	num     json.Number // jsonNumber
	boolean bool        // jsonBool
	members []jsonMember
	items   []*jsonNode
}

type jsonMember struct {
	key    string
	offset int64 // of the key
	value  *jsonNode
}

type jsonKind int

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

func (k jsonKind) String() string {
	return [...]string{"null", "true or false", "a number", "a string", "a list", "an object"}[k]
}

// maxJSONDepth bounds nesting: a catalogue is four levels deep.
const maxJSONDepth = 64

// parseJSONTree reads one JSON document.
func parseJSONTree(raw []byte) (*jsonNode, error) {
	p := &jsonTreeParser{raw: raw, dec: json.NewDecoder(bytes.NewReader(raw))}
	p.dec.UseNumber()
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, &jsonError{offset: p.start(), msg: "unexpected content after the JSON document"}
	}
	return n, nil
}

// jsonError is a syntax error at an offset.
type jsonError struct {
	offset int64
	msg    string
}

func (e *jsonError) Error() string { return e.msg }

type jsonTreeParser struct {
	raw []byte
	dec *json.Decoder
}

// start is the offset of the next token: the decoder's offset is the end of
// the previous one, followed by blanks and separators.
func (p *jsonTreeParser) start() int64 {
	off := p.dec.InputOffset()
	for off < int64(len(p.raw)) {
		switch p.raw[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

func (p *jsonTreeParser) token() (json.Token, int64, error) {
	off := p.start()
	tok, err := p.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, max(se.Offset-1, 0), &jsonError{offset: max(se.Offset-1, 0), msg: "invalid JSON: " + se.Error()}
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, int64(len(p.raw)), &jsonError{offset: int64(len(p.raw)), msg: "invalid JSON: unexpected end of the file"}
		}
		return nil, off, &jsonError{offset: off, msg: "invalid JSON: " + err.Error()}
	}
	return tok, off, nil
}

func (p *jsonTreeParser) value(depth int) (*jsonNode, error) {
	tok, off, err := p.token()
	if err != nil {
		return nil, err
	}
	return p.valueFrom(tok, off, depth)
}

func (p *jsonTreeParser) valueFrom(tok json.Token, off int64, depth int) (*jsonNode, error) {
	if depth > maxJSONDepth {
		return nil, &jsonError{offset: off, msg: fmt.Sprintf("JSON nested deeper than %d levels", maxJSONDepth)}
	}
	n := &jsonNode{offset: off}
	switch v := tok.(type) {
	case nil:
		n.kind = jsonNull
	case bool:
		n.kind, n.boolean = jsonBool, v
	case json.Number:
		n.kind, n.num = jsonNumber, v
	case string:
		n.kind, n.str = jsonString, v
	case json.Delim:
		switch v {
		case '[':
			n.kind = jsonArray
			for p.dec.More() {
				item, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, item)
			}
		case '{':
			n.kind = jsonObject
			for p.dec.More() {
				key, koff, err := p.token()
				if err != nil {
					return nil, err
				}
				value, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.members = append(n.members, jsonMember{key: key.(string), offset: koff, value: value})
			}
		}
		if _, _, err := p.token(); err != nil { // the closing delimiter
			return nil, err
		}
	}
	return n, nil
}
