package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// inputReads records which parts of the input a compiled policy can read.
// The gateway caches decisions; a cached decision may only be reused for a
// request that agrees on everything the policy looked at, so the cache key
// must include the fields the policy reads. Fields that change on almost
// every request (the path, the client address) are kept out of the key
// unless the policy really reads them.
type inputReads struct {
	all   bool
	paths map[string]bool // "request.path", "source.ip", "time", ...
	// The answers the gateway asks on every request, precomputed.
	requestPath, sourceIP bool
}

// analyseInputReads walks every reference to `input` in the compiled
// modules. A reference with a computed key (input[x], input.request[k]) or
// to a whole object (input, input.request) counts as reading everything below
// it: the analysis must never under-approximate.
func analyseInputReads(c *ast.Compiler) inputReads {
	r := inputReads{paths: make(map[string]bool)}
	for _, m := range c.Modules {
		ast.WalkRefs(m, func(ref ast.Ref) bool {
			if !ref[0].Equal(ast.InputRootDocument) {
				return false
			}
			path := ""
			for i := 1; i < len(ref); i++ {
				s, ok := ref[i].Value.(ast.String)
				if !ok {
					break
				}
				if path != "" {
					path += "."
				}
				path += string(s)
			}
			if path == "" {
				r.all = true
			} else {
				r.paths[path] = true
			}
			return false
		})
	}
	r.requestPath = r.reads("request.path")
	r.sourceIP = r.reads("source.ip")
	return r
}

// reads reports whether the policy may read the input field at path (dotted,
// e.g. "request.path"): it reads that field, something inside it, or an
// object that contains it.
func (r inputReads) reads(path string) bool {
	if r.all {
		return true
	}
	for p := range r.paths {
		if p == path || isPrefixPath(p, path) || isPrefixPath(path, p) {
			return true
		}
	}
	return false
}

// isPrefixPath reports whether prefix is a proper dotted prefix of path.
func isPrefixPath(prefix, path string) bool {
	return len(path) > len(prefix) && path[:len(prefix)] == prefix && path[len(prefix)] == '.'
}

// ReadsInput reports whether the policy may read the input field at path
// (dotted: "request.path", "source.ip", "time"). The answer errs on the side
// of true: a policy that builds references dynamically reads everything.
func (e *Engine) ReadsInput(path string) bool {
	switch path {
	case "request.path":
		return e.inputReads.requestPath
	case "source.ip":
		return e.inputReads.sourceIP
	}
	return e.inputReads.reads(path)
}

// collectionReads is what the rules of a compiled policy may read of an
// object in data whose values are entries, such as the operator catalogue
// (sovgate.operators).
type collectionReads struct {
	// any: some rule reads the collection at all.
	any bool
	// whole: some rule may read more than the named fields of entries: the
	// collection itself or an object that contains it, an entry as a value
	// (x := data.sovgate.operators[k]), a field whose name is computed, or
	// a path whose keys are computed before it says which.
	whole bool
	// fields are the fields of entries the rules name
	// (data.sovgate.operators[k].offers reads "offers" of any entry). A
	// test that an entry exists (data.sovgate.operators[k] alone, or
	// negated) reads no field.
	fields map[string]bool
}

// readsCollection says what a compiled policy may read of the collection
// at path in data (see collectionReads). Package paths and rule heads
// define documents; they read nothing. The answer errs on the side of
// reading more.
func readsCollection(c *ast.Compiler, path []string) collectionReads {
	reads := collectionReads{fields: map[string]bool{}}
	entry := len(path) + 2 // data, the path, the entry's key
	// classify notes what ref reads of the collection.
	classify := func(ref ast.Ref) {
		if !ref[0].Equal(ast.DefaultRootDocument) {
			return
		}
		for i := 1; i < len(ref) && i <= len(path); i++ {
			s, ok := ref[i].Value.(ast.String)
			if !ok {
				reads.any, reads.whole = true, true // data[x]: could be anything
				return
			}
			if string(s) != path[i-1] {
				return
			}
		}
		reads.any = true
		if len(ref) <= entry { // a prefix, the collection, or an entry as a value
			reads.whole = true
			return
		}
		field, ok := ref[entry].Value.(ast.String)
		if !ok {
			reads.whole = true
			return
		}
		reads.fields[string(field)] = true
	}
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case *ast.Expr:
			// An entry tested for existence, negated or not: the keys
			// must be there, no field of the entry is read.
			if t, ok := x.Terms.(*ast.Term); ok {
				if ref, ok := t.Value.(ast.Ref); ok && isCollectionEntry(ref, path) {
					reads.any = true
					vis.Walk(ref[len(ref)-1]) // the key may hold references
					for _, w := range x.With {
						vis.Walk(w)
					}
					return true
				}
			}
		case ast.Ref:
			classify(x)
		}
		return false
	})
	for _, m := range c.Modules {
		for _, r := range m.Rules {
			for ; r != nil; r = r.Else {
				vis.Walk(r.Body)
				if r.Head.Value != nil {
					vis.Walk(r.Head.Value)
				}
				if r.Head.Key != nil {
					vis.Walk(r.Head.Key)
				}
				vis.Walk(r.Head.Args)
			}
		}
	}
	return reads
}

// isCollectionEntry reports whether ref is data.<path>[k]: the path's
// keys all named, the entry's key anything.
func isCollectionEntry(ref ast.Ref, path []string) bool {
	if len(ref) != len(path)+2 || !ref[0].Equal(ast.DefaultRootDocument) {
		return false
	}
	for i, p := range path {
		if s, ok := ref[i+1].Value.(ast.String); !ok || string(s) != p {
			return false
		}
	}
	return true
}
