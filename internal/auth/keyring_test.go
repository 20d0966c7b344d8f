package auth

import (
	"bytes"
	"testing"
)

// TestKeyringMAC: a MAC depends on the server key, the purpose and the message, so a URL signed for one
// use is not valid for another and replicas sharing the key agree.
func TestKeyringMAC(t *testing.T) {
	k1, err := NewKeyring(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	k1b, _ := NewKeyring(bytes.Repeat([]byte{1}, 32))
	k2, _ := NewKeyring(bytes.Repeat([]byte{2}, 32))
	base := k1.MAC("img", []byte("abc"))
	for _, tc := range []struct {
		name string
		mac  []byte
		same bool
	}{
		{"another replica, same key", k1b.MAC("img", []byte("abc")), true},
		{"another server key", k2.MAC("img", []byte("abc")), false},
		{"another purpose", k1.MAC("file", []byte("abc")), false},
		{"another message", k1.MAC("img", []byte("abd")), false},
		{"purpose and message boundary moved", k1.MAC("im", []byte("gabc")), false},
	} {
		if got := bytes.Equal(tc.mac, base); got != tc.same {
			t.Errorf("%s: equal %v, want %v", tc.name, got, tc.same)
		}
	}
}
