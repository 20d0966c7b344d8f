package render

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"taskcenter/internal/store"
)

// recAnalysis marks a task whose scene is being analysed: key = the task id, data = analysisMark.
// It exists from submitTask until the analysis has created the children or recorded its failure, so
// that an analysis lost with its server (status 50 for ever) is found and run again.
const recAnalysis = "render.analysis"

type analysisMark struct {
	// Deadline (ms) after which another process may take the analysis over: the analysis time limit
	// plus a grace period while a server runs it, 0 once a server shut down in the middle of it.
	Deadline int64 `json:"deadline"`
}

// markAnalysis records that the task's analysis runs here until deadline (0: free to take over).
func (a *API) markAnalysis(ctx context.Context, shell store.Job, deadline int64) error {
	key := strconv.FormatInt(shell.ID, 10)
	rec := store.Record{AccountID: shell.AccountID, Kind: recAnalysis, Key: key, ParentID: shell.ID,
		Data: mustJSON(analysisMark{Deadline: deadline})}
	if old, err := a.st.GetRecordByKey(ctx, shell.AccountID, recAnalysis, key); err == nil {
		rec.ID = old.ID
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load analysis mark of task %d: %w", shell.ID, err)
	}
	if _, err := a.st.PutRecord(ctx, rec, a.eng.Now()); err != nil {
		return fmt.Errorf("save analysis mark of task %d: %w", shell.ID, err)
	}
	return nil
}

// unmarkAnalysis removes the mark once the analysis reached an end (children or a recorded failure).
func (a *API) unmarkAnalysis(ctx context.Context, shell store.Job) {
	rec, err := a.st.GetRecordByKey(ctx, shell.AccountID, recAnalysis, strconv.FormatInt(shell.ID, 10))
	if err == nil {
		err = a.st.DeleteRecord(ctx, rec.ID)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.log.Warn("remove analysis mark", "task", shell.ID, "err", err)
	}
}

func (a *API) analysisDeadline() int64 {
	return a.eng.Now().Add(a.cfg.AnalysisTimeout + time.Minute).UnixMilli()
}

// recoverLoop takes over lost analyses, at start and then every RecoverEvery.
func (a *API) recoverLoop() {
	defer a.bg.Done()
	t := time.NewTicker(a.cfg.RecoverEvery)
	defer t.Stop()
	for {
		if err := a.recoverAnalyses(a.ctx); err != nil && a.ctx.Err() == nil {
			a.log.Warn("recover lost analyses", "err", err)
		}
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// recoverAnalyses runs again every analysis whose deadline passed. Each is claimed with a nonce
// (one insert that only one replica wins), so that two servers never analyse the same task twice.
func (a *API) recoverAnalyses(ctx context.Context) error {
	recs, _, err := a.st.ListRecords(ctx, store.RecordFilter{Kind: recAnalysis, ParentID: -1, Limit: 100})
	if err != nil {
		return fmt.Errorf("list analysis marks: %w", err)
	}
	now := a.eng.Now()
	for _, rec := range recs {
		var m analysisMark
		_ = json.Unmarshal(rec.Data, &m) // written by this package only; a bad one is taken over
		if m.Deadline > now.UnixMilli() {
			continue
		}
		fresh, err := a.st.UseNonce(ctx, "render:analysis", fmt.Sprintf("%d@%d@%d", rec.ParentID, m.Deadline, rec.UpdatedAt.UnixMilli()),
			now.Add(a.cfg.AnalysisTimeout+time.Hour), now)
		if err != nil {
			return fmt.Errorf("claim analysis of task %d: %w", rec.ParentID, err)
		}
		if !fresh {
			continue // another replica took it
		}
		if err := a.recoverAnalysis(ctx, rec.ParentID); err != nil {
			a.log.Warn("recover analysis", "task", rec.ParentID, "err", err)
		}
	}
	return nil
}

// recoverAnalysis runs the analysis of one task again, or finishes the bookkeeping of one whose
// children were created before its server stopped.
func (a *API) recoverAnalysis(ctx context.Context, id int64) error {
	shell, err := a.st.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return a.deleteMark(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("load task %d: %w", id, err)
	}
	st := stateOf(shell)
	if st.State != stateAnalysing || shell.Deleted || shell.Status.Terminal() {
		// Aborted or deleted meanwhile: children created before the server stopped end with it.
		if err := a.holdChildren(ctx, shell, false); err != nil {
			return err
		}
		a.unmarkAnalysis(ctx, shell)
		return nil
	}
	a.log.Info("taking over a lost scene analysis", "task", id)
	kids, err := a.children(ctx, []int64{shell.AccountID}, []int64{id}, true)
	if err != nil {
		return err
	}
	if len(kids[id]) > 0 {
		// The children were created but not the final state: finish it from them.
		var frames []int
		stopped := false
		for _, k := range kids[id] {
			stopped = stopped || (k.Status == store.JobPaused && k.PauseReason == "user")
			cs := childOf(k)
			f, _ := ParseFrames(cs.Frames)
			frames = append(frames, f...)
			st.Camera, st.Width, st.Height, st.Tiles = cs.Camera, cs.Width, cs.Height, cs.Tiles
		}
		slices.Sort(frames)
		if err := a.holdChildren(ctx, shell, stopped); err != nil {
			return err
		}
		st.State, st.Frames = stateSubmitted, FormatFrames(frames)
		if _, err := a.st.PatchJob(ctx, id, store.JobPatch{Spec: mustJSON(st)}, a.eng.Now()); err != nil {
			return fmt.Errorf("mark task %d submitted: %w", id, err)
		}
		a.unmarkAnalysis(ctx, shell)
		return nil
	}
	if err := a.markAnalysis(ctx, shell, a.analysisDeadline()); err != nil {
		return err
	}
	acct, err := a.st.GetAccount(ctx, shell.AccountID)
	if err != nil {
		return fmt.Errorf("load account of task %d: %w", id, err)
	}
	sub, err := a.validateSubmission(ctx, shell)
	if err != nil {
		// What was valid at submission is not any more (a file was replaced): the task fails with why.
		a.analysisFailed(ctx, shell, err)
		return nil
	}
	sub.account, sub.shell = acct, shell
	// In the background like submitTask's, so that one long analysis does not hold the sweep up.
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		actx, cancel := context.WithTimeout(a.ctx, a.cfg.AnalysisTimeout)
		defer cancel()
		a.analyseAndStart(actx, sub)
	}()
	return nil
}

func (a *API) deleteMark(ctx context.Context, id int64) error {
	recs, _, err := a.st.ListRecords(ctx, store.RecordFilter{Kind: recAnalysis, ParentID: id})
	if err != nil {
		return fmt.Errorf("list analysis marks of task %d: %w", id, err)
	}
	for _, r := range recs {
		if err := a.st.DeleteRecord(ctx, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("remove analysis mark of task %d: %w", id, err)
		}
	}
	return nil
}
