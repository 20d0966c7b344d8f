package recording

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"

	"taskcenter/internal/facade"
	"taskcenter/internal/store"
	"taskcenter/internal/unitspec"
)

// kindGroup is the record kind of a group's registry, keyed by groupKey.
const kindGroup = "recording.group"

// groupDoc is a group's users, in the order they joined, and their media.
type groupDoc struct {
	Users []groupUser `json:"users"`
}

type groupUser struct {
	UserID   string  `json:"user_id"`
	JoinedAt int64   `json:"joined_at"` // Unix ms
	Media    []media `json:"media"`
}

type media struct {
	MediaID   string `json:"media_id"`
	MediaType int    `json:"media_type"` // unitspec.MediaScreen, MediaCamera, MediaWhiteboard, MediaAudio
	URL       string `json:"url"`
}

func groupKey(appID, groupID string) string { return appID + "/" + groupID }

// mediaChange is one report of a media server's webhook, or of the extension command 4105.
type mediaChange struct {
	Action  string // join, publish, unpublish, leave
	GroupID string
	UserID  string
	Media   media
}

// Registry limits.
const (
	maxUsersPerGroup = 64
	maxMediaPerUser  = 8
	maxURL           = 2048
)

func readMediaChange(p facade.Params) (mediaChange, error) {
	var c mediaChange
	var err error
	if c.Action, err = p.Text("action", true, 16); err != nil {
		return c, err
	}
	c.Action = strings.ToLower(c.Action)
	if !slices.Contains([]string{"join", "publish", "unpublish", "leave"}, c.Action) {
		return c, errf(CodeBadParam, "action must be join, publish, unpublish or leave")
	}
	if c.GroupID, err = p.Text("group_id", true, maxText); err != nil {
		return c, err
	}
	if c.UserID, err = p.Text("user_id", true, maxText); err != nil {
		return c, err
	}
	if c.Action == "publish" || c.Action == "unpublish" {
		if c.Media.MediaID, err = p.Text("media_id", true, maxText); err != nil {
			return c, err
		}
	}
	if c.Action == "publish" {
		mt, err := p.Int("media_type", true, 0, 4, 0)
		if err != nil {
			return c, err
		}
		if mt == 1 { // the document's audio type
			mt = unitspec.MediaAudio
		}
		c.Media.MediaType = int(mt)
		if c.Media.URL, err = p.Text("url", true, maxURL); err != nil {
			return c, err
		}
		if err := checkSourceURL(c.Media.URL); err != nil {
			return c, err
		}
	}
	return c, nil
}

// checkSourceURL accepts the stream kinds a recorder pulls: RTMP, RTSP, SRT, HTTP(S) (HLS or a file)
// and local files.
func checkSourceURL(s string) error {
	if strings.HasPrefix(s, "/") {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return errf(CodeBadParam, "url must be an rtmp, rtmps, rtsp, srt, http, https or file URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "rtmp", "rtmps", "rtsp", "rtsps", "srt", "http", "https", "file":
		return nil
	}
	return errf(CodeBadParam, "url scheme %q is not one a recorder pulls (rtmp, rtsp, srt, http, https, file)", u.Scheme)
}

// apply changes the registry document; it reports whether anything changed.
func (g *groupDoc) apply(c mediaChange, now int64) (bool, error) {
	i := slices.IndexFunc(g.Users, func(u groupUser) bool { return u.UserID == c.UserID })
	switch c.Action {
	case "leave":
		if i < 0 {
			return false, nil
		}
		g.Users = slices.Delete(g.Users, i, i+1)
		return true, nil
	case "unpublish":
		if i < 0 {
			return false, nil
		}
		u := &g.Users[i]
		n := len(u.Media)
		u.Media = slices.DeleteFunc(u.Media, func(m media) bool { return m.MediaID == c.Media.MediaID })
		return n != len(u.Media), nil
	}
	if i < 0 {
		if len(g.Users) >= maxUsersPerGroup {
			return false, errf(CodeBadParam, "a group holds at most %d users", maxUsersPerGroup)
		}
		g.Users = append(g.Users, groupUser{UserID: c.UserID, JoinedAt: now, Media: []media{}})
		i = len(g.Users) - 1
		if c.Action == "join" {
			return true, nil
		}
	} else if c.Action == "join" {
		return false, nil
	}
	u := &g.Users[i]
	if j := slices.IndexFunc(u.Media, func(m media) bool { return m.MediaID == c.Media.MediaID }); j >= 0 {
		if u.Media[j] == c.Media {
			return false, nil
		}
		u.Media[j] = c.Media
		return true, nil
	}
	if len(u.Media) >= maxMediaPerUser {
		return false, errf(CodeBadParam, "a user publishes at most %d media", maxMediaPerUser)
	}
	u.Media = append(u.Media, c.Media)
	return true, nil
}

// find returns the user's media of that id; an empty id picks the user's first media of mediaType
// (any type when mediaType < 0).
func (g *groupDoc) find(userID, mediaID string, mediaType int) (media, bool) {
	for _, u := range g.Users {
		if u.UserID != userID {
			continue
		}
		for _, m := range u.Media {
			if mediaID != "" && m.MediaID == mediaID || mediaID == "" && (mediaType < 0 || m.MediaType == mediaType) {
				return m, true
			}
		}
	}
	return media{}, false
}

// loadGroup reads a group's registry; an unknown group is empty.
func (a *API) loadGroup(ctx context.Context, accountID int64, appID, groupID string) (facade.Doc[groupDoc], error) {
	d, err := facade.GetDocByKey[groupDoc](ctx, a.st, accountID, kindGroup, groupKey(appID, groupID))
	if errors.Is(err, store.ErrNotFound) {
		return facade.Doc[groupDoc]{Record: store.Record{AccountID: accountID, Kind: kindGroup, Key: groupKey(appID, groupID)}}, nil
	}
	return d, err
}

// changeMedia applies a registry change and lets the group's recordings follow it.
func (a *API) changeMedia(ctx context.Context, ap app, c mediaChange) error {
	unlock, err := a.lock(ctx, "g:"+groupKey(ap.ID, c.GroupID))
	if err != nil {
		return err
	}
	d, err := a.loadGroup(ctx, ap.AccountID, ap.ID, c.GroupID)
	if err != nil {
		unlock()
		return err
	}
	changed, err := d.Doc.apply(c, a.now().UnixMilli())
	if err != nil || !changed {
		unlock()
		return err
	}
	if _, err := facade.PutDoc(ctx, a.st, d.Record, d.Doc, a.now()); err != nil {
		unlock()
		return err
	}
	unlock()
	return a.followGroup(ctx, ap, c.GroupID)
}

// groupView answers the extension's group query.
func groupView(g groupDoc) map[string]any {
	users := make([]map[string]any, len(g.Users))
	for i, u := range g.Users {
		ms := make([]map[string]any, len(u.Media))
		for j, m := range u.Media {
			ms[j] = map[string]any{"media_id": m.MediaID, "media_type": m.MediaType, "url": m.URL}
		}
		users[i] = map[string]any{"user_id": u.UserID, "joined_at": u.JoinedAt, "media": ms}
	}
	return map[string]any{"user_list": users}
}
