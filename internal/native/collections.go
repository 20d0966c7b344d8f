package native

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"taskcenter/internal/facade"
)

// Collection is a list of a dialect's own things that the console shows on the dialect's page (RPA
// processes and assets, recordings, AI channels, project templates): the native API's
// GET /api/v1/collections/{name}. A facade implements it to give its page a list without a route of
// its own; it answers plain JSON objects in snake_case, never a secret (an asset's password, a key).
type Collection interface {
	// CollectionName names it in the path, e.g. "rpa.processes".
	CollectionName() string
	// ListCollection pages the account's items (accountID 0: every account's, for an admin),
	// newest first, those matching q.Search when it is set.
	ListCollection(ctx context.Context, accountID int64, q CollectionQuery) (items []json.RawMessage, total int, err error)
}

// Collections is a facade offering several collections (RPA: processes, versions, assets, files).
type Collections interface {
	Collections() []Collection
}

// CollectionQuery is what a collection's list is asked for.
type CollectionQuery struct {
	Search        string
	Limit, Offset int
	// Filter is the request's other query parameters (e.g. status=SUCCESS), one value each: the
	// collection's own filters, which it documents; a collection refuses one it does not take
	// (store.ErrInvalid, a 400) or ignores them all.
	Filter map[string]string
}

// collectionParams are the query parameters every collection takes; the others are its filters.
var collectionParams = map[string]bool{"search": true, "limit": true, "offset": true, "account_id": true}

// collectionFilter reads a collection's own filters, answering 400 for a repeated, overlong or invalid one.
func collectionFilter(w http.ResponseWriter, r *http.Request) (map[string]string, bool) {
	out := map[string]string{}
	for k, vs := range r.URL.Query() {
		if collectionParams[k] {
			continue
		}
		if len(vs) != 1 || len(k) > 64 || len(vs[0]) > 200 || !facade.ValidText(k) || !facade.ValidText(vs[0]) {
			facade.JSONError(w, http.StatusBadRequest, "a filter is one value of valid text, at most 200 bytes")
			return nil, false
		}
		if vs[0] != "" {
			out[k] = vs[0]
		}
	}
	return out, true
}

// handleCollections names the collections this server offers.
func (s *API) handleCollections(w http.ResponseWriter, r *http.Request, c caller) {
	names := make([]string, 0, len(s.collections))
	for n := range s.collections {
		names = append(names, n)
	}
	slices.Sort(names)
	facade.JSON(w, http.StatusOK, map[string]any{"total": len(names), "collections": names})
}

// handleCollection pages one collection for the caller's account (an admin: every account, or the
// one account_id names).
func (s *API) handleCollection(w http.ResponseWriter, r *http.Request, c caller) {
	col, ok := s.collections[r.PathValue("name")]
	if !ok {
		facade.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	limit, offset, ok := paging(w, r, 100, 1000)
	if !ok {
		return
	}
	acct, ok := accountFilter(w, r)
	if !ok {
		return
	}
	filter, ok := collectionFilter(w, r)
	if !ok {
		return
	}
	switch {
	case acct != 0 && !c.owns(acct):
		facade.JSON(w, http.StatusOK, map[string]any{"total": 0, "items": []json.RawMessage{}})
		return
	case acct == 0 && !c.admin():
		acct = c.account.ID
	}
	items, total, err := col.ListCollection(r.Context(), acct, CollectionQuery{Search: r.URL.Query().Get("search"), Limit: limit, Offset: offset, Filter: filter})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	facade.JSON(w, http.StatusOK, map[string]any{"total": total, "items": items})
}
