package sqlstore

import "context"

// ListAITenants lists the tenants that have AI users or channels (deleted channels aside), by id.
func (b *Base) ListAITenants(ctx context.Context) ([]int64, error) {
	ids, err := all(func(r Row) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	})(b.r.Query(ctx, `SELECT tenant_id FROM ai_users UNION SELECT tenant_id FROM ai_channels WHERE deleted = 0 ORDER BY 1`))
	return ids, wrap(err, "list ai tenants")
}
