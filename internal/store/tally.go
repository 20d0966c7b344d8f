package store

import "context"

// UnitTally is how many units of one job kind are in one status.
type UnitTally struct {
	Kind   string
	Status UnitStatus
	Count  int
}

// Tallies counts work for an overview (the console's first page).
type Tallies interface {
	// TallyUnits counts the units of jobs that are not deleted by their job's kind and their own
	// status, for one account (accountID > 0) or every account (0), ordered by kind then status.
	TallyUnits(ctx context.Context, accountID int64) ([]UnitTally, error)
	LastEventIDer
}

// LastEventIDer finds where the history ends, for a reader that follows it from now on.
type LastEventIDer interface {
	// LastEventID is the highest event id, 0 when there is none.
	LastEventID(ctx context.Context) (int64, error)
}
