package rpa

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	forEachDriver(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		w, scheduleID, _ := robotEnv(t, e)
		root, err := e.st.GetRecordByKey(ctx, e.account, recOrg, "-001-")
		must(t, err)
		must(t, e.admin.Send(ctx, "POST", "/oapi/v1/queue", map[string]any{"queueName": "q", "queueMaxItems": 10, "failTryTimes": 0}, nil))
		long := func(n int) string { return strings.Repeat("x", n) }
		sched := func(over map[string]any) map[string]any {
			m := map[string]any{"schName": "s2", "procCode": "invoice", "scheduleExpre": "0 0/5 * * * ?"}
			for k, v := range over {
				m[k] = v
			}
			return m
		}
		raw := func(s string) json.RawMessage { return json.RawMessage(s) }
		for _, tc := range []struct {
			name   string
			method string
			path   string
			body   any        // for POST/PUT/DELETE
			query  url.Values // for GET
			want   int
		}{
			// Malformed bodies.
			{"malformed JSON", "POST", "/oapi/v1/queue", raw(`{"queueName":`), nil, CodeParamInvalid},
			{"JSON array body", "POST", "/oapi/v1/queue", raw(`["q"]`), nil, CodeParamInvalid},
			{"trailing data", "PUT", "/oapi/v1/asset", raw(`{"assetName":"a"} {}`), nil, CodeParamInvalid},
			// Users.
			{"user: missing name", "POST", "/oapi/v1/user", map[string]any{"roleId": 1, "orgCode": "-001-", "userPassword": "secret1"}, nil, CodeParamMissing},
			{"user: name too long", "POST", "/oapi/v1/user", map[string]any{"userName": long(51), "roleId": 1, "orgCode": "-001-", "userPassword": "secret1"}, nil, CodeParamTooLong},
			{"user: bad name", "POST", "/oapi/v1/user", map[string]any{"userName": "a b", "roleId": 1, "orgCode": "-001-", "userPassword": "secret1"}, nil, CodeParamInvalid},
			{"user: roleId wrong type", "POST", "/oapi/v1/user", map[string]any{"userName": "u1", "roleId": []int{1}, "orgCode": "-001-", "userPassword": "secret1"}, nil, CodeParamInvalid},
			{"user: unknown role", "POST", "/oapi/v1/user", map[string]any{"userName": "u1", "roleId": 999999, "orgCode": "-001-", "userPassword": "secret1"}, nil, CodeNotFound},
			{"user: unknown department", "POST", "/oapi/v1/user", map[string]any{"userName": "u1", "roleId": "1", "orgCode": "-999-", "userPassword": "secret1"}, nil, CodeNotFound},
			{"user: short password", "POST", "/oapi/v1/user", map[string]any{"userName": "u1", "roleId": 1, "orgCode": "-001-", "userPassword": "123"}, nil, CodeParamInvalid},
			{"user: unknown id", "PUT", "/oapi/v1/user", map[string]any{"id": 999999, "userAlias": "x"}, nil, CodeNotFound},
			{"user: id not a number", "PUT", "/oapi/v1/user", map[string]any{"id": "abc"}, nil, CodeParamInvalid},
			{"user: delete nothing", "DELETE", "/oapi/v1/user", map[string]any{}, nil, CodeParamMissing},
			{"users: bad page", "GET", "/oapi/v1/user", nil, url.Values{"page": {"0"}}, CodeParamInvalid},
			{"users: size not a number", "GET", "/oapi/v1/user", nil, url.Values{"size": {"ten"}}, CodeParamInvalid},
			// Departments (printed limits: curCode 5, curName 30, description 200).
			{"org: curCode too long", "POST", "/oapi/v1/orgDef/addOrg", map[string]any{"curCode": "123456", "curName": "x"}, nil, CodeParamTooLong},
			{"org: curName too long", "POST", "/oapi/v1/orgDef/addOrg", map[string]any{"curCode": "1", "curName": long(31)}, nil, CodeParamTooLong},
			{"org: description too long", "POST", "/oapi/v1/orgDef/addOrg", map[string]any{"curCode": "1", "curName": "x", "description": long(201)}, nil, CodeParamTooLong},
			{"org: missing curName", "POST", "/oapi/v1/orgDef/addOrg", map[string]any{"curCode": "1"}, nil, CodeParamMissing},
			{"org: bad curCode", "POST", "/oapi/v1/orgDef/addOrg", map[string]any{"curCode": "a/b", "curName": "x"}, nil, CodeParamInvalid},
			{"org: unknown parent", "POST", "/oapi/v1/orgDef/addOrg", map[string]any{"curCode": "1", "curName": "x", "parentOrgCode": "-404-"}, nil, CodeNotFound},
			{"org: unknown id", "PUT", "/oapi/v1/orgDef/editOrgDef", map[string]any{"id": 999999, "curName": "x"}, nil, CodeNotFound},
			{"org: orgPos wrong type", "PUT", "/oapi/v1/orgDef/editOrgDef", map[string]any{"id": root.ID, "orgPos": true}, nil, CodeParamInvalid},
			{"org: delete own", "DELETE", "/oapi/v1/orgDef/delOrgDef", map[string]any{}, nil, CodeParamMissing},
			// Robots.
			{"robot: unknown id", "GET", "/oapi/v1/robot/detail", nil, url.Values{"id": {"999999"}}, CodeNotFound},
			{"robot: missing id", "PUT", "/oapi/v1/robot", map[string]any{"robotAlias": "x"}, nil, CodeParamMissing},
			{"robot: alias too long", "PUT", "/oapi/v1/robot", map[string]any{"id": idString(w.ID), "robotAlias": long(51)}, nil, CodeParamTooLong},
			{"licence: past expiry", "POST", "/oapi/v1/robot/licence", map[string]any{"id": w.ID, "licDateExpiry": "2000-01-01"}, nil, CodeParamInvalid},
			{"studio: unknown id", "PUT", "/oapi/v1/studio", map[string]any{"id": w.ID, "studioAlias": "x"}, nil, CodeNotFound},
			// Processes and schedules.
			{"process: unknown id", "DELETE", "/oapi/v1/process", map[string]any{"id": "999999"}, nil, CodeNotFound},
			{"versions: unknown process", "GET", "/oapi/v1/process/version", nil, url.Values{"proclid": {"999999"}}, CodeNotFound},
			{"version: bad status", "PUT", "/oapi/v1/process/version", map[string]any{"id": 1, "workStatus": "gone"}, nil, CodeParamInvalid},
			{"schedule: too many robots", "POST", "/oapi/v1/schedule", sched(map[string]any{"execRobotsNo": manyRobots(201)}), nil, CodeParamInvalid},
			{"schedule: bad cron", "POST", "/oapi/v1/schedule", sched(map[string]any{"scheduleExpre": "every day at 2"}), nil, CodeParamInvalid},
			{"schedule: cron out of range", "POST", "/oapi/v1/schedule", sched(map[string]any{"scheduleExpre": "0 61 * * * ?"}), nil, CodeParamInvalid},
			{"schedule: missing cron", "POST", "/oapi/v1/schedule", sched(map[string]any{"scheduleExpre": ""}), nil, CodeParamMissing},
			{"schedule: invalid priority", "POST", "/oapi/v1/schedule", sched(map[string]any{"priority": 5}), nil, CodeParamInvalid},
			{"schedule: priority wrong type", "POST", "/oapi/v1/schedule", sched(map[string]any{"priority": "high"}), nil, CodeParamInvalid},
			{"schedule: bad runMode", "POST", "/oapi/v1/schedule", sched(map[string]any{"runMode": "sometimes"}), nil, CodeParamInvalid},
			{"schedule: end before start", "POST", "/oapi/v1/schedule", sched(map[string]any{"startTime": "2030-01-02", "endTime": "2030-01-01"}), nil, CodeParamInvalid},
			{"schedule: unknown process", "POST", "/oapi/v1/schedule", sched(map[string]any{"procCode": "nope"}), nil, CodeNotFound},
			{"schedule: name too long", "POST", "/oapi/v1/schedule", sched(map[string]any{"schName": long(51)}), nil, CodeParamTooLong},
			{"schedule: workday with fixed weekday", "POST", "/oapi/v1/schedule", sched(map[string]any{"scheduleExpre": "0 0 1 ? * 2", "script": 2}), nil, CodeParamInvalid},
			{"job: unknown schedule", "POST", "/oapi/v1/job/create", map[string]any{"id": "999999"}, nil, CodeNotFound},
			{"job: missing id", "POST", "/oapi/v1/job/create", map[string]any{}, nil, CodeParamMissing},
			{"job: unknown job", "POST", "/oapi/v1/job/stop", map[string]any{"id": 999999}, nil, CodeNotFound},
			{"jobs: missing process", "GET", "/oapi/v1/job", nil, url.Values{}, CodeParamMissing},
			// Assets.
			{"asset: missing value", "POST", "/oapi/v1/asset", map[string]any{"assetName": "a", "assetType": "text"}, nil, CodeParamMissing},
			{"asset: bad type", "POST", "/oapi/v1/asset", map[string]any{"assetName": "a", "assetType": "secret", "assetValue": "v"}, nil, CodeParamInvalid},
			{"asset: name too long", "POST", "/oapi/v1/asset", map[string]any{"assetName": long(101), "assetType": "text", "assetValue": "v"}, nil, CodeParamTooLong},
			{"asset: value wrong type", "POST", "/oapi/v1/asset", map[string]any{"assetName": "a", "assetType": "text", "assetValue": map[string]int{"x": 1}}, nil, CodeParamInvalid},
			{"asset: unknown name", "PUT", "/oapi/v1/asset", map[string]any{"assetName": "nope", "assetValue": "v"}, nil, CodeNotFound},
			{"asset: delete neither", "DELETE", "/oapi/v1/asset", map[string]any{}, nil, CodeParamMissing},
			{"vlog: missing asset", "GET", "/oapi/v1/asset/vlog", nil, url.Values{}, CodeParamMissing},
			{"vlog: bad action", "GET", "/oapi/v1/asset/vlog", nil, url.Values{"assetId": {"a"}, "action": {"steal"}}, CodeParamInvalid},
			// Queues and items.
			{"queue: missing max", "POST", "/oapi/v1/queue", map[string]any{"queueName": "q2", "failTryTimes": 0}, nil, CodeParamMissing},
			{"queue: max wrong type", "POST", "/oapi/v1/queue", map[string]any{"queueName": "q2", "queueMaxItems": "lots", "failTryTimes": 0}, nil, CodeParamInvalid},
			{"queue: negative retries", "POST", "/oapi/v1/queue", map[string]any{"queueName": "q2", "queueMaxItems": 1, "failTryTimes": -1}, nil, CodeParamInvalid},
			{"queue: name too long", "POST", "/oapi/v1/queue", map[string]any{"queueName": long(101), "queueMaxItems": 1, "failTryTimes": 0}, nil, CodeParamTooLong},
			{"queue: unknown", "DELETE", "/oapi/v1/queue", map[string]any{"queueName": "nope"}, nil, CodeNotFound},
			{"queue: neither id nor name", "PUT", "/oapi/v1/queue/clear", map[string]any{}, nil, CodeParamMissing},
			{"item: invalid priority", "POST", "/oapi/v1/queue/item", map[string]any{"queueName": "q", "priority": "111"}, nil, CodeParamInvalid},
			{"item: missing priority", "POST", "/oapi/v1/queue/item", map[string]any{"queueName": "q"}, nil, CodeParamMissing},
			{"item: bad deadline", "POST", "/oapi/v1/queue/item", map[string]any{"queueName": "q", "priority": "high", "deadline": "soon"}, nil, CodeParamInvalid},
			{"item: bad keys", "POST", "/oapi/v1/queue/item", map[string]any{"queueName": "q", "priority": "high", "deadline": "2030-01-01", "keys": "not json"}, nil, CodeParamInvalid},
			{"item: unknown queue", "POST", "/oapi/v1/queue/item", map[string]any{"queueName": "nope", "priority": "high"}, nil, CodeNotFound},
			{"item: unknown item", "PUT", "/oapi/v1/queue/item", map[string]any{"queueName": "q", "itemNo": "nope", "status": "success"}, nil, CodeNotFound},
			{"item: missing items", "DELETE", "/oapi/v1/queue/item", map[string]any{"queueName": "q"}, nil, CodeParamMissing},
			{"items: bad status", "GET", "/oapi/v1/queue/item", nil, url.Values{"queueName": {"q"}, "status": {"lost"}}, CodeParamInvalid},
			{"items: bad filter", "GET", "/oapi/v1/queue/item", nil, url.Values{"queueName": {"q"}, "filter": {"status:"}}, CodeParamInvalid},
			{"pop: missing queue", "GET", "/oapi/v1/queue/item/pop", nil, url.Values{}, CodeParamMissing},
			// Files.
			{"file: delete unknown", "DELETE", "/oapi/v1/share/file", map[string]any{"id": "999999"}, nil, CodeFileNotFound},
			{"file: upload not multipart", "POST", "/oapi/v1/share/file", map[string]any{"uploadFile": "D:/a.txt"}, nil, CodeParamInvalid},
			{"file: download missing name", "GET", "/oapi/v1/share/file/download", nil, url.Values{}, CodeParamMissing},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var err error
				if tc.method == "GET" {
					err = e.admin.Get(ctx, tc.path, tc.query, nil)
				} else {
					err = e.admin.Send(ctx, tc.method, tc.path, tc.body, nil)
				}
				wantCode(t, err, tc.want)
			})
		}
		_ = scheduleID
	})
}

// manyRobots is a list of n distinct robot numbers.
func manyRobots(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = "r" + strconv.Itoa(i)
	}
	return strings.Join(names, ",")
}
