package policy

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

var (
	keyAllow     = ast.StringTerm("allow")
	keyProfile   = ast.StringTerm("profile")
	keyReasons   = ast.StringTerm("reasons")
	keyCode      = ast.StringTerm("code")
	keyMessage   = ast.StringTerm("message")
	keyException = ast.StringTerm("exception")
	keyMessages  = ast.StringTerm("messages")
)

// decisionFromValue reads data.sovgate.decision. It is strict about the
// fields the gateway relies on (a policy that writes "allow": "yes" has not
// allowed anything) and ignores extra fields, which policy authors may add
// for their own tests.
func decisionFromValue(v ast.Value) (*Decision, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("%w: want an object, got %s", ErrMalformedDecision, ast.ValueName(v))
	}
	var allow ast.Boolean
	t := obj.Get(keyAllow)
	ok = false
	if t != nil {
		allow, ok = t.Value.(ast.Boolean)
	}
	if !ok {
		return nil, fmt.Errorf("%w: \"allow\" must be true or false, got %s", ErrMalformedDecision, describe(t))
	}
	profile, err := stringField(obj, keyProfile, "decision", true)
	if err != nil {
		return nil, err
	}
	t = obj.Get(keyReasons)
	if t == nil {
		return nil, fmt.Errorf("%w: \"reasons\" is missing", ErrMalformedDecision)
	}
	arr, ok := t.Value.(*ast.Array)
	if !ok {
		return nil, fmt.Errorf("%w: \"reasons\" must be an array, got %s", ErrMalformedDecision, describe(t))
	}
	d := &Decision{Allow: bool(allow), Profile: profile, Reasons: make([]Reason, arr.Len())}
	for i := range arr.Len() {
		r, err := reasonFromValue(arr.Elem(i).Value, i)
		if err != nil {
			return nil, err
		}
		d.Reasons[i] = r
	}
	return d, nil
}

func reasonFromValue(v ast.Value, i int) (Reason, error) {
	where := fmt.Sprintf("reasons[%d]", i)
	obj, ok := v.(ast.Object)
	if !ok {
		return Reason{}, fmt.Errorf("%w: %s must be an object, got %s", ErrMalformedDecision, where, ast.ValueName(v))
	}
	var r Reason
	var err error
	if r.Code, err = stringField(obj, keyCode, where, true); err != nil {
		return Reason{}, err
	}
	if r.Code == "" {
		return Reason{}, fmt.Errorf("%w: %s.code is empty", ErrMalformedDecision, where)
	}
	if r.Message, err = stringField(obj, keyMessage, where, true); err != nil {
		return Reason{}, err
	}
	if r.IP, err = stringField(obj, keyIP, where, false); err != nil {
		return Reason{}, err
	}
	if r.Exception, err = stringField(obj, keyException, where, false); err != nil {
		return Reason{}, err
	}
	if r.Messages, err = messagesField(obj, where); err != nil {
		return Reason{}, err
	}
	return r, nil
}

// messagesField reads the optional "messages" of a reason: an object of
// strings keyed by language.
func messagesField(obj ast.Object, where string) (map[string]string, error) {
	t := obj.Get(keyMessages)
	if t == nil {
		return nil, nil
	}
	m, ok := t.Value.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("%w: %s.messages must be an object of strings keyed by language, got %s", ErrMalformedDecision, where, describe(t))
	}
	out := make(map[string]string, m.Len())
	err := m.Iter(func(k, v *ast.Term) error {
		key, kok := k.Value.(ast.String)
		text, vok := v.Value.(ast.String)
		if !kok || !vok {
			return fmt.Errorf("%w: %s.messages must be an object of strings keyed by language, got %s: %s", ErrMalformedDecision, where, describe(k), describe(v))
		}
		out[string(key)] = string(text)
		return nil
	})
	return out, err
}

// stringField reads obj[key] as a string; a missing optional field is "".
func stringField(obj ast.Object, key *ast.Term, where string, required bool) (string, error) {
	t := obj.Get(key)
	if t == nil {
		if required {
			return "", fmt.Errorf("%w: %s.%s is missing", ErrMalformedDecision, where, string(key.Value.(ast.String)))
		}
		return "", nil
	}
	s, ok := t.Value.(ast.String)
	if !ok {
		return "", fmt.Errorf("%w: %s.%s must be a string, got %s", ErrMalformedDecision, where, string(key.Value.(ast.String)), describe(t))
	}
	return string(s), nil
}

// describe names a value in an error message, briefly.
func describe(t *ast.Term) string {
	if t == nil {
		return "nothing"
	}
	s := t.String()
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return ast.ValueName(t.Value) + " " + s
}
