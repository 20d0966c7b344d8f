package render

import (
	"time"
)

// recoverLoop adopts the analyses older servers left marked, at start and then every RecoverEvery.
func (a *API) recoverLoop() {
	defer a.bg.Done()
	t := time.NewTicker(a.cfg.RecoverEvery)
	defer t.Stop()
	for {
		if err := a.adoptLegacyAnalyses(a.ctx); err != nil && a.ctx.Err() == nil {
			a.log.Warn("adopt analyses left by an older server", "err", err)
		}
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
	}
}
