package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"taskcenter/internal/store"
)

// testRecordScopeName checks the filters on a record's Scope and Name: a literal, case-sensitive
// prefix (a subtree of a path, with or without the unscoped records) and a literal, case-sensitive
// substring, LIKE's wildcards and escape included, paged in id order with the whole count.
func testRecordScopeName(t *testing.T, s store.Store) {
	ctx := context.Background()
	var ids []int64
	for _, r := range []store.Record{
		{Scope: "-010-", Name: "alpha"},       // 0
		{Scope: "-010-025-", Name: "beta"},    // 1
		{Scope: "-010-025-001-", Name: "Gam"}, // 2
		{Scope: "-011-", Name: "gamma"},       // 3
		{Scope: "", Name: "a%b_c\\d"},         // 4
		{Scope: "-0x0-", Name: "axb c"},       // 5: what "_" and "%" would match unescaped
		{Scope: "-A-", Name: "ALPHA"},         // 6
		{Scope: "-a-b-", Name: ""},            // 7
	} {
		r.AccountID, r.Kind = 1, "rpa.user"
		out, err := s.PutRecord(ctx, r, t0)
		must(t, err)
		if out.Scope != r.Scope || out.Name != r.Name {
			t.Fatalf("put returned scope %q name %q, want %q %q", out.Scope, out.Name, r.Scope, r.Name)
		}
		ids = append(ids, out.ID)
	}
	// Other accounts and kinds never show.
	for _, r := range []store.Record{{AccountID: 2, Kind: "rpa.user"}, {AccountID: 1, Kind: "rpa.queue"}} {
		r.Scope, r.Name = "-010-", "alpha"
		_, err := s.PutRecord(ctx, r, t0)
		must(t, err)
	}
	// An update rewrites both.
	upd, err := s.GetRecord(ctx, ids[7])
	must(t, err)
	upd.Scope, upd.Name = "-a-", "delta"
	_, err = s.PutRecord(ctx, upd, at(1))
	must(t, err)

	cases := []recordListCase{
		{"no filter", store.RecordFilter{}, []int{0, 1, 2, 3, 4, 5, 6, 7}, 8},
		{"subtree", store.RecordFilter{ScopePrefix: "-010-"}, []int{0, 1, 2}, 3},
		{"subtree with the unscoped", store.RecordFilter{ScopePrefix: "-010-", OrUnscoped: true}, []int{0, 1, 2, 4}, 4},
		{"deeper subtree", store.RecordFilter{ScopePrefix: "-010-025-"}, []int{1, 2}, 2},
		{"prefix underscore is literal", store.RecordFilter{ScopePrefix: "-0_0-"}, nil, 0},
		{"prefix percent is literal", store.RecordFilter{ScopePrefix: "-%"}, nil, 0},
		{"prefix is case sensitive", store.RecordFilter{ScopePrefix: "-a-"}, []int{7}, 1},
		{"prefix is case sensitive, upper", store.RecordFilter{ScopePrefix: "-A-"}, []int{6}, 1},
		{"contains", store.RecordFilter{NameContains: "lph"}, []int{0}, 1},
		{"contains is case sensitive", store.RecordFilter{NameContains: "LPH"}, []int{6}, 1},
		{"contains", store.RecordFilter{NameContains: "am"}, []int{2, 3}, 2},
		{"contains percent is literal", store.RecordFilter{NameContains: "%"}, []int{4}, 1},
		{"contains underscore is literal", store.RecordFilter{NameContains: "b_c"}, []int{4}, 1},
		{"contains backslash is literal", store.RecordFilter{NameContains: `c\d`}, []int{4}, 1},
		{"both", store.RecordFilter{ScopePrefix: "-010-", NameContains: "a"}, []int{0, 1, 2}, 3},
		{"page", store.RecordFilter{ScopePrefix: "-010-", OrUnscoped: true, Limit: 2, Offset: 1}, []int{1, 2}, 4},
		{"newest first", store.RecordFilter{ScopePrefix: "-010-", Desc: true, Limit: 2}, []int{2, 1}, 3},
		{"page past the end", store.RecordFilter{ScopePrefix: "-010-", Limit: 2, Offset: 5}, nil, 3},
	}
	checkRecordLists(t, s, "rpa.user", ids, cases)
}

// testRecordFields checks the filters on a record's document fields (strings and integers, one of
// several values, negated, any of several) and on its creation time, alike on both drivers.
func testRecordFields(t *testing.T, s store.Store) {
	ctx := context.Background()
	var ids []int64
	for i, doc := range []string{
		`{"action":"read","assetId":12,"robotNo":"bot1"}`, // 0
		`{"action":"edit","assetId":12,"robotNo":"bot2"}`, // 1
		`{"action":"read","assetId":7,"assetName":"12"}`,  // 2
		`{"action":"create","assetId":120}`,               // 3
		`{"action":"read","flag":true,"note":"o'brien"}`,  // 4
	} {
		r, err := s.PutRecord(ctx, store.Record{AccountID: 1, Kind: "rpa.vlog", Data: []byte(doc)}, at(time.Duration(i)*time.Minute))
		must(t, err)
		ids = append(ids, r.ID)
	}
	cases := []recordListCase{
		{"a string", store.RecordFilter{Fields: []store.FieldMatch{{Field: "action", Values: []string{"read"}}}}, []int{0, 2, 4}, 3},
		{"one of", store.RecordFilter{Fields: []store.FieldMatch{{Field: "action", Values: []string{"edit", "create"}}}}, []int{1, 3}, 2},
		{"an integer as text", store.RecordFilter{Fields: []store.FieldMatch{{Field: "assetId", Values: []string{"12"}}}}, []int{0, 1}, 2},
		{"both fields", store.RecordFilter{Fields: []store.FieldMatch{{Field: "action", Values: []string{"read"}}, {Field: "robotNo", Values: []string{"bot1"}}}}, []int{0}, 1},
		{"missing is empty", store.RecordFilter{Fields: []store.FieldMatch{{Field: "robotNo", Values: []string{""}}}}, []int{2, 3, 4}, 3},
		{"not", store.RecordFilter{Fields: []store.FieldMatch{{Field: "action", Values: []string{"read"}, Not: true}}}, []int{1, 3}, 2},
		{"quote in a value", store.RecordFilter{Fields: []store.FieldMatch{{Field: "note", Values: []string{"o'brien"}}}}, []int{4}, 1},
		{"no values matches nothing", store.RecordFilter{Fields: []store.FieldMatch{{Field: "action"}}}, nil, 0},
		{"name or id", store.RecordFilter{AnyField: []store.FieldMatch{{Field: "assetName", Values: []string{"12"}}, {Field: "assetId", Values: []string{"12"}}}}, []int{0, 1, 2}, 3},
		{"created from", store.RecordFilter{CreatedFrom: at(3 * time.Minute)}, []int{3, 4}, 2},
		{"created to", store.RecordFilter{CreatedTo: at(1 * time.Minute)}, []int{0, 1}, 2},
		{"created within, newest first", store.RecordFilter{CreatedFrom: at(1 * time.Minute), CreatedTo: at(3 * time.Minute), Desc: true, Limit: 2}, []int{3, 2}, 3},
	}
	checkRecordLists(t, s, "rpa.vlog", ids, cases)
}

// recordListCase is one list of account 1's records of a kind: the filter, the records it must return
// (indexes into the ids the test created, in order) and its whole count.
type recordListCase struct {
	name  string
	f     store.RecordFilter
	want  []int
	total int
}

func checkRecordLists(t *testing.T, s store.Store, kind string, ids []int64, cases []recordListCase) {
	t.Helper()
	for _, tc := range cases {
		tc.f.AccountIDs, tc.f.Kind, tc.f.ParentID = []int64{1}, kind, -1
		rs, total, err := s.ListRecords(context.Background(), tc.f)
		must(t, err)
		var got, want []int64
		for _, r := range rs {
			got = append(got, r.ID)
		}
		for _, i := range tc.want {
			want = append(want, ids[i])
		}
		if !slices.Equal(got, want) || total != tc.total {
			t.Errorf("%s: ids %v total %d; want %v %d", tc.name, got, total, want, tc.total)
		}
	}
}
