package native

import (
	"net/http"

	"taskcenter/internal/facade"
)

// handleDrainWorker drains (drain) or undrains a worker the caller owns: a drained worker leases no
// new units and finishes those it runs (Engine.DrainWorker). It answers the worker.
func (s *API) handleDrainWorker(drain bool) func(w http.ResponseWriter, r *http.Request, c caller) {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		wk, ok := s.worker(w, r, c)
		if !ok {
			return
		}
		change := s.cfg.Engine.UndrainWorker
		if drain {
			change = s.cfg.Engine.DrainWorker
		}
		err := change(r.Context(), wk.ID)
		if err == nil {
			wk, err = s.cfg.Store.GetWorker(r.Context(), wk.ID)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		facade.JSON(w, http.StatusOK, NewWorkerView(wk))
	}
}
