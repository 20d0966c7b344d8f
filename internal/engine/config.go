package engine

import (
	"time"
)

// Config tunes the engine. Zero fields take the defaults of DefaultConfig.
type Config struct {
	LeaseFor     time.Duration // how long a lease lives without a heartbeat or progress report
	Heartbeat    time.Duration // how often agents are asked to heartbeat
	RetryBase    time.Duration // first retry delay; doubles per attempt
	RetryMax     time.Duration // cap of the retry delay
	AvoidFor     time.Duration // how long a unit avoids the worker it failed on
	SweepEvery   time.Duration // leader sweep period
	OfflineAfter time.Duration // a worker with no heartbeat for this long is offline
	LeaderTTL    time.Duration // leadership term; renewed every sweep
	IdleRecheck  time.Duration // a waiting lease re-checks this often for units whose retry delay passed
	Holder       string        // this process's name for leadership
	// LeaseGrace is how long a freshly leased unit may go unlisted by its worker's heartbeats before it
	// is taken back (the lease answer may still be on its way); default Heartbeat.
	LeaseGrace time.Duration
	// Now, when set, is the engine's clock instead of the wall clock (tests move time on).
	Now func() time.Time
	// LeaseConcurrency caps this process's lease queries in flight at once. More leasers than that
	// only scan past each other's locked rows (PostgreSQL) or queue for the writer (SQLite); the rest
	// wait their turn in the process instead.
	LeaseConcurrency int
	// UnitsPerJob and JobsInFlight are the account limits of accounts whose settings set none
	// (DefaultUnitsPerJob, DefaultJobsInFlight when zero).
	UnitsPerJob, JobsInFlight int
}

// DefaultConfig is what a server runs with unless told otherwise.
func DefaultConfig() Config {
	return Config{
		LeaseFor:     30 * time.Second,
		Heartbeat:    10 * time.Second,
		RetryBase:    2 * time.Second,
		RetryMax:     5 * time.Minute,
		AvoidFor:     time.Minute,
		SweepEvery:   time.Second,
		OfflineAfter: 2 * time.Minute,
		LeaderTTL:    10 * time.Second,
		IdleRecheck:  5 * time.Second,

		LeaseConcurrency: 4,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&c.LeaseFor, d.LeaseFor)
	set(&c.Heartbeat, d.Heartbeat)
	set(&c.RetryBase, d.RetryBase)
	set(&c.RetryMax, d.RetryMax)
	set(&c.AvoidFor, d.AvoidFor)
	set(&c.SweepEvery, d.SweepEvery)
	set(&c.OfflineAfter, d.OfflineAfter)
	set(&c.LeaderTTL, d.LeaderTTL)
	set(&c.IdleRecheck, d.IdleRecheck)
	set(&c.LeaseGrace, c.Heartbeat)
	if c.LeaseConcurrency <= 0 {
		c.LeaseConcurrency = d.LeaseConcurrency
	}
	if c.UnitsPerJob <= 0 {
		c.UnitsPerJob = DefaultUnitsPerJob
	}
	if c.JobsInFlight <= 0 {
		c.JobsInFlight = DefaultJobsInFlight
	}
	return c
}
