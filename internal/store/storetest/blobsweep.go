package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// testUnreferencedBlobs: of the hashes asked, those no account refers to come back once each, in
// the order asked, across more hashes than one statement takes; a right dropped makes its blob
// unreferenced once no other account holds one.
func testUnreferencedBlobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	if since, ok, err := s.BlobSweepSince(ctx); err != nil || ok {
		t.Fatalf("BlobSweepSince of a new database = %v, %v, %v; want no horizon", since, ok, err)
	}
	a, b := account(t, s, "sweep-a"), account(t, s, "sweep-b")
	shared, own, dropped, never := hashOf("sweep-shared"), hashOf("sweep-own"), hashOf("sweep-dropped"), hashOf("sweep-never")
	many := make([]string, 6000) // more than one statement's rows; the even ones referenced
	var manyRefs, manyFree []string
	for i := range many {
		many[i] = fmt.Sprintf("%063dc", i)
		if i%2 == 0 {
			manyRefs = append(manyRefs, many[i])
		} else {
			manyFree = append(manyFree, many[i])
		}
	}
	must(t, s.AddBlobRefs(ctx, a.ID, append([]string{shared, own, dropped}, manyRefs...), t0))
	must(t, s.AddBlobRefs(ctx, b.ID, []string{shared, dropped}, t0))
	_, err := s.DropBlobRefs(ctx, b.ID, []string{dropped})
	must(t, err)

	tests := []struct {
		name   string
		hashes []string
		want   []string
	}{
		{"none asked", nil, []string{}},
		{"all referenced", []string{shared, own, dropped}, []string{}},
		{"one never referenced, repeated, with an empty string", []string{never, shared, "", never}, []string{never}},
		{"many", append([]string{never}, many...), append([]string{never}, manyFree...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.UnreferencedBlobs(ctx, tc.hashes)
			must(t, err)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("UnreferencedBlobs = %d hashes %.3q..., want %d %.3q...", len(got), got, len(tc.want), tc.want)
			}
		})
	}
	// The last right on a blob goes: now nobody refers to it.
	_, err = s.DropBlobRefs(ctx, a.ID, []string{dropped, shared})
	must(t, err)
	got, err := s.UnreferencedBlobs(ctx, []string{shared, dropped, own})
	must(t, err)
	if !slices.Equal(got, []string{dropped}) {
		t.Fatalf("after the last right went: %q, want only the dropped blob (b still holds the shared one)", got)
	}
}

// CheckBlobSweepSince checks the sweep's horizon of a database migrated past 00057: set, to about
// now, when the database held data (upgraded); unset when it was empty (new).
func CheckBlobSweepSince(t *testing.T, s store.Store, upgraded bool) {
	t.Helper()
	since, ok, err := s.BlobSweepSince(context.Background())
	if err != nil || ok != upgraded {
		t.Fatalf("BlobSweepSince = %v, %v, %v; want set %v", since, ok, err, upgraded)
	}
	if ok && time.Since(since).Abs() > time.Hour {
		t.Fatalf("BlobSweepSince = %v, want the time of the migration", since)
	}
}
