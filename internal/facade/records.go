package facade

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"taskcenter/internal/store"
)

// Records is what the typed documents need of the store.
type Records interface {
	GetRecord(ctx context.Context, id int64) (store.Record, error)
	GetRecordByKey(ctx context.Context, accountID int64, kind, key string) (store.Record, error)
	ListRecords(ctx context.Context, f store.RecordFilter) ([]store.Record, int, error)
	PutRecord(ctx context.Context, r store.Record, now time.Time) (store.Record, error)
}

// Doc is a record of the store's records table with its JSON document decoded: a dialect's own small
// objects (users, labels, queues) kept without a table of their own.
type Doc[T any] struct {
	store.Record
	Doc T
}

// DecodeDoc decodes a record's document.
func DecodeDoc[T any](r store.Record) (Doc[T], error) {
	var d T
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return Doc[T]{}, fmt.Errorf("decode %s record %d: %w", r.Kind, r.ID, err)
	}
	return Doc[T]{Record: r, Doc: d}, nil
}

// GetDoc loads a record of kind by id within the account; another account's record, or one of another
// kind, is store.ErrNotFound.
func GetDoc[T any](ctx context.Context, st Records, account int64, kind string, id int64) (Doc[T], error) {
	r, err := st.GetRecord(ctx, id)
	if err != nil {
		return Doc[T]{}, err
	}
	if r.AccountID != account || r.Kind != kind {
		return Doc[T]{}, store.ErrNotFound
	}
	return DecodeDoc[T](r)
}

// GetDocByKey loads the account's record of kind by its key.
func GetDocByKey[T any](ctx context.Context, st Records, account int64, kind, key string) (Doc[T], error) {
	r, err := st.GetRecordByKey(ctx, account, kind, key)
	if err != nil {
		return Doc[T]{}, err
	}
	return DecodeDoc[T](r)
}

// ListDocs loads every record of kind in the account (parent -1: any parent).
func ListDocs[T any](ctx context.Context, st Records, account int64, kind string, parent int64) ([]Doc[T], error) {
	rs, _, err := st.ListRecords(ctx, store.RecordFilter{AccountIDs: []int64{account}, Kind: kind, ParentID: parent})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	out := make([]Doc[T], 0, len(rs))
	for _, r := range rs {
		d, err := DecodeDoc[T](r)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// ListDocsPage loads one page of the records f selects (in id order) and the count of all of them.
func ListDocsPage[T any](ctx context.Context, st Records, f store.RecordFilter) ([]Doc[T], int, error) {
	rs, total, err := st.ListRecords(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", f.Kind, err)
	}
	out := make([]Doc[T], 0, len(rs))
	for _, r := range rs {
		d, err := DecodeDoc[T](r)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, d)
	}
	return out, total, nil
}

// Indexed is a document whose lists filter by a scope and a name: PutDoc keeps them in the record's
// indexed columns (store.Record.Scope and Name) so that the lists filter and page in SQL.
type Indexed interface {
	// RecordScope is the path a list matches by prefix (an RPA department code, for one).
	RecordScope() string
	// RecordName is the name in the form a list matches substrings of (folded if matched so).
	RecordName() string
}

// PutDoc encodes doc into r and writes it (ID 0 inserts), returning the stored record. An Indexed
// doc sets the record's Scope and Name.
func PutDoc(ctx context.Context, st Records, r store.Record, doc any, now time.Time) (store.Record, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return store.Record{}, fmt.Errorf("encode %s: %w", r.Kind, err)
	}
	r.Data = b
	if ix, ok := doc.(Indexed); ok {
		r.Scope, r.Name = ix.RecordScope(), ix.RecordName()
	}
	out, err := st.PutRecord(ctx, r, now)
	if err != nil {
		return store.Record{}, fmt.Errorf("write %s %q: %w", r.Kind, r.Key, err)
	}
	return out, nil
}
