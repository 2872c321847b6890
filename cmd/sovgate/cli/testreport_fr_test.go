package cli

import (
	"strings"
	"testing"
)

// OPA's test report, put into French line by line, even when a line comes
// in two writes; test names and policy lines stay as written.
func TestFrenchTestReport(t *testing.T) {
	report := "policies/sovgate/decision_test.rego:\n" +
		"data.sovgate_test.test_us_denied: FAIL (1.2ms)\n" +
		"data.sovgate_test.test_cases: PASS (3ms)\n" +
		"  eu: PASS\n" +
		"  us: FAIL\n" +
		"data.sovgate_test.test_todo: SKIPPED\n" +
		"data.sovgate_test.test_err: ERROR (5µs)\n" +
		"  eval_conflict_error: functions must not produce multiple outputs: PASS or FAIL\n" +
		"--------------------------------------------------------------------------------\n" +
		"FAILURES\n" +
		"--------------------------------------------------------------------------------\n" +
		"PASS: 12/14\n" +
		"FAIL: 1/14\n" +
		"SKIPPED: 1/14\n" +
		"ERROR: 1/14\n" +
		"no tests found"
	want := "policies/sovgate/decision_test.rego:\n" +
		"data.sovgate_test.test_us_denied : ÉCHEC (1.2ms)\n" +
		"data.sovgate_test.test_cases : RÉUSSI (3ms)\n" +
		"  eu : RÉUSSI\n" +
		"  us : ÉCHEC\n" +
		"data.sovgate_test.test_todo : IGNORÉ\n" +
		"data.sovgate_test.test_err : ERREUR (5µs)\n" +
		"  eval_conflict_error: functions must not produce multiple outputs: PASS or FAIL\n" +
		"--------------------------------------------------------------------------------\n" +
		"ÉCHECS\n" +
		"--------------------------------------------------------------------------------\n" +
		"RÉUSSIS : 12/14\n" +
		"ÉCHOUÉS : 1/14\n" +
		"IGNORÉS : 1/14\n" +
		"EN ERREUR : 1/14\n" +
		"aucun test trouvé"
	var out strings.Builder
	fr := &frenchTestReport{w: &out}
	cut := strings.Index(report, "FAIL (1.2ms)") + 2 // a line in two writes
	for _, part := range []string{report[:cut], report[cut:]} {
		if n, err := fr.Write([]byte(part)); err != nil || n != len(part) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	fr.Flush()
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
