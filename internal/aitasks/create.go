package aitasks

import (
	"context"
	"errors"
	"maps"
	"slices"

	"taskcenter/internal/batch"
	"taskcenter/internal/engine"
	"taskcenter/internal/store"
)

// Group commit of submits. Every submit writes its task, its charge (the account's funds and a
// ledger line) and its key's use in one transaction; concurrent submits of one user all lock that
// user's account and key rows, so they would queue on those locks one commit at a time. Gathered
// into one transaction (internal/batch: no timer, a lone submit writes at once), a batch locks each
// account and key once, with one insert of ledger lines, and commits once.

// createBatchSize bounds the submits written by one transaction.
const createBatchSize = 64

// creation is a submit to write: its task, and the account and note of its charge.
type creation struct {
	task    store.AITask
	account int64
	note    string
}

// created is a creation's result: the task as stored, or why it was refused.
type created struct {
	task store.AITask
	err  error
}

// errSplitBatch undoes a batch in which some submit is refused (quota) so that each is written alone
// and gets its own answer.
var errSplitBatch = errors.New("a submit of the batch is refused")

func newCreateGroup(a *API) *batch.Group[creation, created] {
	return batch.New(createBatchSize, a.createTasks)
}

// create writes one submit's task and charge, in a batch with concurrent submits.
func (a *API) create(ctx context.Context, c creation) (store.AITask, error) {
	r, err := a.creates.Do(ctx, c)
	if err != nil {
		return store.AITask{}, err
	}
	return r.task, r.err
}

// createTasks writes the batch in one transaction. When any submit of it is refused, or the batch
// fails, it is undone whole and each submit is written in a transaction of its own: those answers
// are the ones a lone submit would get.
func (a *API) createTasks(ctx context.Context, cs []creation) ([]created, error) {
	out := make([]created, len(cs))
	if len(cs) > 1 {
		err := a.eng.WithTx(ctx, func(tx engine.Tx) error {
			ts := make([]store.AITask, len(cs))
			for i, c := range cs {
				ts[i] = c.task
			}
			ts, err := tx.AITasks().CreateAITasks(ctx, ts)
			if err != nil {
				return err
			}
			charges := make([]engine.Charge, len(cs))
			keys := map[int64]int64{} // key id -> quota taken
			for i, t := range ts {
				out[i].task = t
				charges[i] = engine.Charge{AccountID: cs[i].account, Key: chargeKey(t.TaskID), AmountMilli: t.Quota, Note: cs[i].note}
				keys[t.KeyID] += t.Quota
			}
			ps, err := tx.ChargeEach(ctx, charges)
			if err != nil {
				return err
			}
			for _, p := range ps {
				if !p.Paid() {
					return errSplitBatch
				}
			}
			// Keys after accounts, in id order, as a lone submit and a refund take them.
			for _, k := range slices.Sorted(maps.Keys(keys)) {
				if ok, err := tx.AITasks().UseAIKeyQuota(ctx, k, keys[k]); err != nil {
					return err
				} else if !ok {
					return errSplitBatch
				}
			}
			return nil
		})
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, errSplitBatch) {
			a.log.Warn("batch of submits failed; writing each alone", "submits", len(cs), "err", err)
		}
	}
	for i, c := range cs {
		out[i] = created{}
		out[i].task, out[i].err = a.createOne(ctx, c)
	}
	return out, nil
}

// createOne writes one submit's task and charge in a transaction of its own: a charge the user's
// funds do not cover, or a key past its limit, refuses it whole.
func (a *API) createOne(ctx context.Context, c creation) (store.AITask, error) {
	t := c.task
	err := a.eng.WithTx(ctx, func(tx engine.Tx) error {
		var err error
		if t, err = tx.AITasks().CreateAITask(ctx, t); err != nil {
			return err
		}
		p, err := tx.ChargeOnce(ctx, engine.Charge{AccountID: c.account, Key: chargeKey(t.TaskID),
			AmountMilli: t.Quota, Note: c.note})
		if err != nil {
			return err
		}
		if !p.Paid() { // refused whole: nothing of the task or the charge is kept
			return errUserQuota
		}
		if ok, err := tx.AITasks().UseAIKeyQuota(ctx, t.KeyID, t.Quota); err != nil {
			return err
		} else if !ok {
			return errKeyQuota
		}
		return nil
	})
	return t, err
}

// startBatchSize bounds the tasks one statement starts.
const startBatchSize = 256

// started is the move of a task from NOT_START to SUBMITTED once an upstream took it: concurrent
// submits' moves are one statement (and one commit) together.
func newStartGroup(a *API) *batch.Group[store.AITaskStart, bool] {
	return batch.New(startBatchSize, func(ctx context.Context, ss []store.AITaskStart) ([]bool, error) {
		return a.st.StartAITasks(ctx, StatusNotStart, StatusSubmitted, ss, a.now())
	})
}
