package store

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sovgate/sovgate/audit"
)

// Filter selects decision records. Empty fields select everything; the
// conditions add up (AND).
type Filter struct {
	// Since is inclusive, Until exclusive.
	Since, Until time.Time
	App          string
	// Host is a destination host name (exact, lower case), or "*.suffix"
	// for the host and every name under it.
	Host     string
	Country  string // ISO code of any address of the destination
	Provider string // provider id of any address (aws, azure, ovh...)
	Verdict  string // allow or deny
	Reason   string // a reason code
	Action   string // forwarded or blocked
	Node     string
	ID       string
	// Limit bounds a page; 0 means DefaultLimit for Query.
	Limit int
	// Cursor continues a listing (Page.NextCursor).
	Cursor string
}

// DefaultLimit is the page size when none is given.
const DefaultLimit = 100

// MaxLimit bounds a page of the admin API.
const MaxLimit = 10000

// Normalize checks the filter and puts its values in the stored spelling.
func (f *Filter) Normalize() error {
	f.App = strings.TrimSpace(f.App)
	f.Host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(f.Host)), ".")
	f.Country = strings.ToUpper(strings.TrimSpace(f.Country))
	f.Provider = strings.ToLower(strings.TrimSpace(f.Provider))
	f.Verdict = strings.ToLower(strings.TrimSpace(f.Verdict))
	f.Reason = strings.ToUpper(strings.TrimSpace(f.Reason))
	f.Action = strings.ToLower(strings.TrimSpace(f.Action))
	f.Node = strings.TrimSpace(f.Node)
	f.ID = strings.TrimSpace(f.ID)
	switch f.Verdict {
	case "", string(audit.Allow), string(audit.Deny):
	default:
		return fmt.Errorf("verdict %q: use allow or deny", f.Verdict)
	}
	switch f.Action {
	case "", string(audit.Forwarded), string(audit.Blocked):
	default:
		return fmt.Errorf("action %q: use forwarded or blocked", f.Action)
	}
	if f.Limit < 0 {
		return fmt.Errorf("limit %d: must be 0 or more", f.Limit)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return fmt.Errorf("since (%s) must be before until (%s)", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	if f.Cursor != "" {
		if _, _, err := decodeCursor(f.Cursor); err != nil {
			return err
		}
	}
	return nil
}

// ParseTime reads a time bound as an auditor writes it:
//
//	2026-10-01T00:00:00Z   RFC 3339 (any offset)
//	2026-10-01 12:30       date and time, UTC
//	2026-10-01             a date, midnight UTC
//	2026-10                a month, its first day
//	30d, 12h, 90m, 2w      that long before now
//	now
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if strings.EqualFold(s, "now") {
		return now.UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02", "2006-01"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if d, err := parseAgo(s); err == nil {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("time %q: use 2026-10-01, 2026-10-01T08:00:00Z, 2026-10, or a duration before now such as 30d or 12h", s)
}

// parseAgo reads a duration with the units Go knows plus d (days) and w
// (weeks).
func parseAgo(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, errors.New("too short")
	}
	unit := s[len(s)-1]
	if unit == 'd' || unit == 'w' {
		n, err := strconv.ParseFloat(s[:len(s)-1], 64)
		if err != nil || n < 0 || n > 100*366 {
			return 0, errors.New("bad number")
		}
		day := 24 * time.Hour
		if unit == 'w' {
			day *= 7
		}
		return time.Duration(n * float64(day)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("bad duration")
	}
	return d, nil
}

// FilterFromQuery reads a filter from URL query parameters, named like the
// command's flags: since, until, app, host, country, provider, verdict,
// reason, action, node, id, limit, cursor.
func FilterFromQuery(q url.Values, now time.Time) (Filter, error) {
	var f Filter
	var err error
	for name := range q {
		switch name {
		case "since", "until", "app", "host", "country", "provider", "verdict", "reason", "action", "node", "id", "limit", "cursor":
		default:
			return f, fmt.Errorf("unknown filter %q (known: since, until, app, host, country, provider, verdict, reason, action, node, id, limit, cursor)", name)
		}
		if len(q[name]) > 1 {
			return f, fmt.Errorf("filter %q is given %d times; give it once", name, len(q[name]))
		}
	}
	if f.Since, err = ParseTime(q.Get("since"), now); err != nil {
		return f, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = ParseTime(q.Get("until"), now); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	f.App, f.Host, f.Country, f.Provider = q.Get("app"), q.Get("host"), q.Get("country"), q.Get("provider")
	f.Verdict, f.Reason, f.Action, f.Node, f.ID = q.Get("verdict"), q.Get("reason"), q.Get("action"), q.Get("node"), q.Get("id")
	f.Cursor = q.Get("cursor")
	if v := q.Get("limit"); v != "" {
		f.Limit, err = strconv.Atoi(v)
		if err != nil || f.Limit < 1 || f.Limit > MaxLimit {
			return f, fmt.Errorf("limit %q: a number from 1 to %d", v, MaxLimit)
		}
	}
	return f, f.Normalize()
}

// A cursor is the (time, id) of the last record of a page, opaque to
// clients.
func encodeCursor(timeUS int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(timeUS, 10) + "|" + id))
}

func decodeCursor(c string) (int64, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", errors.New("bad cursor: pass back the next_cursor of the previous page")
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	n, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || id == "" || len(id) > 128 {
		return 0, "", errors.New("bad cursor: pass back the next_cursor of the previous page")
	}
	return n, id, nil
}
