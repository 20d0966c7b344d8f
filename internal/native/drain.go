package native

import (
	"net/http"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
)

// handleDrainWorker drains (drain) or undrains a worker the caller owns: a drained worker leases no
// new units and finishes those it runs (Engine.DrainWorker). It answers the worker.
func (s *API) handleDrainWorker(drain bool) func(w http.ResponseWriter, r *http.Request, c caller) {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		id, ok := pathID(r)
		if !ok {
			facade.JSONError(w, http.StatusNotFound, "not found")
			return
		}
		wk, err := s.cfg.Store.GetWorker(r.Context(), id)
		if err == nil && !c.owns(wk.AccountID) {
			err = store.ErrNotFound
		}
		if err == nil {
			if drain {
				err = s.cfg.Engine.DrainWorker(r.Context(), id)
			} else {
				err = s.cfg.Engine.UndrainWorker(r.Context(), id)
			}
		}
		if err == nil {
			wk, err = s.cfg.Store.GetWorker(r.Context(), id)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		facade.JSON(w, http.StatusOK, NewWorkerView(wk))
	}
}
