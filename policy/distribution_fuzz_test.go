package policy_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/sovgate/sovgate/policy"
)

// FuzzReadSignedBundle feeds arbitrary bytes to the bundle reader, as a
// hostile or broken bundle server would: it must refuse them with an error,
// never panic, and never accept a bundle the key did not sign.
func FuzzReadSignedBundle(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	priv, pub := pemKeyF(f, key)
	var signed bytes.Buffer
	if _, err := policy.WriteBundle(&signed, bundleFS(map[string]string{"sovgate/decision.rego": goodPolicy}), policy.SignOptions{PrivateKey: priv}); err != nil {
		f.Fatal(err)
	}
	f.Add(signed.Bytes())
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Add([]byte("not a bundle"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, _, err := policy.ReadSignedBundle(bytes.NewReader(raw), pub, "fuzz")
		if err != nil {
			return
		}
		// Accepted: it must be the signed bundle's content (a valid
		// signature over other files is out of a fuzzer's reach).
		if _, err := policy.Load(t.Context(), b); err != nil {
			t.Fatalf("an accepted bundle does not load: %v", err)
		}
	})
}
