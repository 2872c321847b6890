package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sovgate/sovgate/audit"
)

// Formats of `audit query`.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatCSV   = "csv"
)

// RecordWriter writes records in one of the query formats, as they come
// (a listing of a million records is never held in memory).
type RecordWriter struct {
	format string
	w      io.Writer
	tw     *tabwriter.Writer
	cw     *csv.Writer
	n      int
}

// NewRecordWriter checks the format and starts the output.
func NewRecordWriter(w io.Writer, format string) (*RecordWriter, error) {
	rw := &RecordWriter{format: format, w: w}
	switch format {
	case FormatTable:
		rw.tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(rw.tw, "TIME (UTC)\tAPP\tVERDICT\tACTION\tDESTINATION\tCOUNTRIES\tPROVIDERS\tREASONS\tBYTES UP/DOWN\tID")
	case FormatCSV:
		rw.cw = csv.NewWriter(w)
		if err := rw.cw.Write(csvHeader); err != nil {
			return nil, err
		}
	case FormatJSON:
		if _, err := io.WriteString(w, "["); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("format %q: use table, json or csv", format)
	}
	return rw, nil
}

var csvHeader = []string{"id", "time", "node", "app", "source_ip", "method", "scheme", "host", "port", "path",
	"countries", "providers", "ips", "verdict", "action", "mode", "reasons", "exceptions", "policy_revision",
	"duration_us", "bytes_up", "bytes_down", "completed", "prev_hash", "hash", "count", "last"}

// Write adds one record.
func (rw *RecordWriter) Write(r *audit.Stored) error {
	rw.n++
	switch rw.format {
	case FormatTable:
		bytes := "-"
		if r.Completed {
			bytes = humanBytes(r.BytesUp) + " / " + humanBytes(r.BytesDown)
		}
		_, err := fmt.Fprintf(rw.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Time.UTC().Format("2006-01-02 15:04:05"), tabSafe(r.App), r.Verdict, r.Action,
			tabSafe(hostPort(r.Host, r.Port)), orDash(strings.Join(Countries(&r.Record), ",")),
			orDash(strings.Join(Providers(&r.Record), ",")), orDash(tabSafe(reasonsText(&r.Record))), bytes, r.ID)
		return err
	case FormatCSV:
		ips := make([]string, len(r.Addresses))
		for i, a := range r.Addresses {
			ips[i] = a.IP
		}
		row := []string{r.ID, r.Time.UTC().Format(time.RFC3339Nano), r.Node, r.App, r.SourceIP, r.Method, r.Scheme,
			r.Host, strconv.Itoa(int(r.Port)), r.Path, strings.Join(Countries(&r.Record), ";"),
			strings.Join(Providers(&r.Record), ";"), strings.Join(ips, ";"), string(r.Verdict), string(r.Action), r.Mode,
			joinCodes(r.Reasons, ";"), strings.Join(r.Exceptions, ";"), r.PolicyRevision, strconv.FormatInt(r.DurationUS, 10),
			strconv.FormatInt(r.BytesUp, 10), strconv.FormatInt(r.BytesDown, 10), strconv.FormatBool(r.Completed),
			r.PrevHash, r.Hash, strconv.FormatInt(r.Weight(), 10), lastText(&r.Record)}
		for i := range row {
			row[i] = csvSafe(row[i])
		}
		return rw.cw.Write(row)
	default:
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		sep := "\n  "
		if rw.n > 1 {
			sep = ",\n  "
		}
		_, err = fmt.Fprintf(rw.w, "%s%s", sep, b)
		return err
	}
}

// Close ends the output.
func (rw *RecordWriter) Close() error {
	switch rw.format {
	case FormatTable:
		return rw.tw.Flush()
	case FormatCSV:
		rw.cw.Flush()
		return rw.cw.Error()
	default:
		end := "]\n"
		if rw.n > 0 {
			end = "\n]\n"
		}
		_, err := io.WriteString(rw.w, end)
		return err
	}
}

// reasonsText lists the reason codes, with the count of a summary of
// identical refusals ("RATE_LIMITED ×2999").
func reasonsText(r *audit.Record) string {
	text := joinCodes(r.Reasons, ",")
	if r.Count > 1 {
		text += " ×" + strconv.FormatInt(r.Count, 10)
	}
	return text
}

// lastText is the time of the last refusal a summary stands for, or "".
func lastText(r *audit.Record) string {
	if r.Last.IsZero() {
		return ""
	}
	return r.Last.UTC().Format(time.RFC3339Nano)
}

// Countries returns the distinct countries of a record's addresses, in
// order; "??" stands for an address whose country is unknown.
func Countries(r *audit.Record) []string {
	var out []string
	for _, a := range r.Addresses {
		c := a.Country
		if c == "" {
			c = "??"
		}
		out = appendUnique(out, c)
	}
	return out
}

// Providers returns the distinct providers of a record's addresses.
func Providers(r *audit.Record) []string {
	var out []string
	for _, a := range r.Addresses {
		if a.Provider != "" {
			out = appendUnique(out, a.Provider)
		}
	}
	return out
}

func joinCodes(codes []audit.Code, sep string) string {
	var b strings.Builder
	for i, c := range codes {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(string(c))
	}
	return b.String()
}

func appendUnique(xs []string, x string) []string {
	for _, v := range xs {
		if v == x {
			return xs
		}
	}
	return append(xs, x)
}

func hostPort(host string, port uint16) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(int(port))
	}
	return host + ":" + strconv.Itoa(int(port))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tabSafe keeps a value on its table cell: no tab or line break.
func tabSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
