package rpa

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"taskcenter/internal/native"
	"taskcenter/internal/store"
)

// Collections offers the console's RPA page the facade's own things as native collections:
// processes, their versions, assets (a password asset's value never) and shared files, of the
// account the native API names, newest first, searched by name.
func (a *API) Collections() []native.Collection {
	return []native.Collection{
		recordList[processDoc]{a.st, "rpa.processes", recProcess, func(d processDoc) map[string]any {
			return map[string]any{"code": d.ProcCode, "name": d.ProcName, "version": d.ProcVer, "status": d.WorkStatus,
				"department": d.OrgCode, "developer": d.DeveloperUser, "owner": d.OwnerUser, "description": d.ProcDesc,
				"published_at": millis(d.PublishTime)}
		}},
		recordList[versionDoc]{a.st, "rpa.versions", recVersion, func(d versionDoc) map[string]any {
			return map[string]any{"code": d.ProcCode, "name": d.ProcName, "version": d.ProcVer, "status": d.WorkStatus,
				"department": d.OrgCode, "entry": d.Entry, "size": d.Size, "hash": d.Hash, "explain": d.VerExplain,
				"developer": d.DeveloperUser, "published_at": millis(d.PublishTime)}
		}},
		recordList[assetDoc]{a.st, "rpa.assets", recAsset, func(d assetDoc) map[string]any {
			m := map[string]any{"name": d.AssetName, "type": d.AssetType, "robot": d.RobotNo, "department": d.OrgCode,
				"description": d.AssetDesc, "value": masked}
			if d.AssetType != "passwd" { // a password's value is sealed and stays so
				m["value"] = d.Value
			}
			return m
		}},
		recordList[fileDoc]{a.st, "rpa.files", recFile, func(d fileDoc) map[string]any {
			return map[string]any{"name": d.FileName, "size": d.Size, "hash": d.Hash, "tags": d.Tags,
				"description": d.FileDesc, "department": d.OrgCode}
		}},
	}
}

// recordList is one kind of the facade's records shown as a collection through view.
type recordList[T any] struct {
	st   Store
	name string
	kind string
	view func(T) map[string]any
}

func (l recordList[T]) CollectionName() string { return l.name }

func (l recordList[T]) ListCollection(ctx context.Context, accountID int64, q native.CollectionQuery) ([]json.RawMessage, int, error) {
	f := store.RecordFilter{Kind: l.kind, ParentID: -1, NameContains: q.Search, Desc: true, Limit: q.Limit, Offset: q.Offset}
	if accountID != 0 {
		f.AccountIDs = []int64{accountID}
	}
	rs, total, err := l.st.ListRecords(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", l.kind, err)
	}
	out := make([]json.RawMessage, 0, len(rs))
	for _, r := range rs {
		var d T
		if err := json.Unmarshal(r.Data, &d); err != nil {
			return nil, 0, fmt.Errorf("decode %s record %d: %w", r.Kind, r.ID, err)
		}
		m := l.view(d)
		m["id"], m["account_id"], m["updated_at"] = r.ID, r.AccountID, r.UpdatedAt.UTC().Format(time.RFC3339)
		b, err := json.Marshal(m)
		if err != nil {
			return nil, 0, fmt.Errorf("encode %s record %d: %w", r.Kind, r.ID, err)
		}
		out = append(out, b)
	}
	return out, total, nil
}

// millis renders the document's epoch milliseconds as a time (empty when unset).
func millis(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}
