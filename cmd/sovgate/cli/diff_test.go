package cli

import "testing"

func TestUnifiedDiff(t *testing.T) {
	a := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
	b := "a\nB\nc\nd\ne\nf\ng\nh\ni\nJ\nk\n"
	want := `--- f
+++ f (formatted)
@@ -1,5 +1,5 @@
 a
-b
+B
 c
 d
 e
@@ -7,5 +7,5 @@
 g
 h
 i
-j
+J
 k
`
	if got := unifiedDiff("f", a, b); got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if got := unifiedDiff("f", a, a); got != "" {
		t.Errorf("no change gave %q", got)
	}
	want = "--- f\n+++ f (formatted)\n@@ -1 +1,2 @@\n x\n+y\n"
	if got := unifiedDiff("f", "x\n", "x\ny\n"); got != want {
		t.Errorf("diff:\n%q\nwant:\n%q", got, want)
	}
}
