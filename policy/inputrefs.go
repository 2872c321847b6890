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

// readsData reports whether a compiled policy may read the data document
// at path (e.g. sovgate.operators): a reference in a rule's body or value
// to it, to something inside it, or to an object that contains it, or a
// reference whose key is computed before it says which. Package paths and
// rule heads define documents; they read nothing. The answer errs on the
// side of true.
func readsData(c *ast.Compiler, path []string) bool {
	reads := false
	visit := func(ref ast.Ref) bool {
		if reads || !ref[0].Equal(ast.DefaultRootDocument) {
			return reads
		}
		for i := 1; i < len(ref) && i <= len(path); i++ {
			s, ok := ref[i].Value.(ast.String)
			if !ok {
				reads = true // data[x]: could be anything
				return true
			}
			if string(s) != path[i-1] {
				return false
			}
		}
		// ref is a prefix of path (data, data.sovgate), path itself, or
		// below it.
		reads = true
		return true
	}
	for _, m := range c.Modules {
		for _, r := range m.Rules {
			for ; r != nil && !reads; r = r.Else {
				ast.WalkRefs(r.Body, visit)
				if r.Head.Value != nil {
					ast.WalkRefs(r.Head.Value, visit)
				}
				if r.Head.Key != nil {
					ast.WalkRefs(r.Head.Key, visit)
				}
				ast.WalkRefs(r.Head.Args, visit)
			}
		}
	}
	return reads
}
