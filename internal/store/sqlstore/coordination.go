package sqlstore

import (
	"context"
	"time"
)

// TryLead is one upsert: it takes the row when free, expired or already ours.
func (b *Base) TryLead(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	n, err := b.w.Exec(ctx, `INSERT INTO leaders (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leaders.expires_at <= $4 OR leaders.holder = excluded.holder`, name, holder, MS(now.Add(ttl)), MS(now))
	return n == 1, wrap(err, "lead %q", name)
}

func (b *Base) Resign(ctx context.Context, name, holder string) error {
	_, err := b.w.Exec(ctx, `DELETE FROM leaders WHERE name = $1 AND holder = $2`, name, holder)
	return wrap(err, "resign %q", name)
}
