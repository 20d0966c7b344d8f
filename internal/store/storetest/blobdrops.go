package storetest

import (
	"context"
	"fmt"
	"testing"

	"taskcenter/internal/store"
)

// testDropBlobRefs: an account's rights on the hashes it names go, absent ones are skipped, and
// other accounts' rights on the same blobs stay.
func testDropBlobRefs(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := account(t, s, "drop-a"), account(t, s, "drop-b")
	shared, own, kept := hashOf("shared"), hashOf("own"), hashOf("kept")
	many := make([]string, 6000) // more than one statement's rows
	for i := range many {
		many[i] = fmt.Sprintf("%064d", i)
	}
	must(t, s.AddBlobRefs(ctx, a.ID, append([]string{shared, own, kept}, many...), t0))
	must(t, s.AddBlobRefs(ctx, b.ID, []string{shared}, t0))
	n, err := s.DropBlobRefs(ctx, a.ID, append([]string{shared, own, own, hashOf("absent"), ""}, many...))
	must(t, err)
	if n != 2+len(many) {
		t.Errorf("dropped %d, want %d", n, 2+len(many))
	}
	if n, err := s.DropBlobRefs(ctx, a.ID, nil); err != nil || n != 0 {
		t.Errorf("nothing to drop: %d %v", n, err)
	}
	for _, tc := range []struct {
		acct int64
		hash string
		want bool
	}{
		{a.ID, shared, false}, {a.ID, own, false}, {a.ID, many[0], false}, {a.ID, many[5999], false},
		{a.ID, kept, true}, {b.ID, shared, true},
	} {
		got, err := s.HasBlobRef(ctx, tc.acct, tc.hash)
		must(t, err)
		if got != tc.want {
			t.Errorf("HasBlobRef(%d, %s) = %v, want %v", tc.acct, tc.hash[:8], got, tc.want)
		}
	}
}
