package decision

import (
	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/internal/lang"
)

// Explanation is one reason of an outcome, told in a language.
type Explanation struct {
	Code    audit.Code
	Message string
}

// Explain tells each reason of the outcome in l, in order: a code the
// policy gave with the policy's message in l (its messages, else its
// message); a code the gateway decided (before the policy, or after it: a
// tunnel check, an audit log that could not take the record) with the
// gateway's explanation, else the code's title. The block page and
// `sovgate check` show it.
func (o *Outcome) Explain(l lang.Lang) []Explanation {
	out := make([]Explanation, len(o.Reasons))
	for i, code := range o.Reasons {
		out[i].Code = code
		if d := o.Decision; d != nil && i < len(d.Reasons) && string(code) == d.Reasons[i].Code {
			out[i].Message = lang.Pick(l, d.Reasons[i].Messages, d.Reasons[i].Message)
			continue
		}
		out[i].Message = o.Detail.In(l)
		if out[i].Message == "" {
			out[i].Message = code.Info().Title(l)
		}
	}
	return out
}
