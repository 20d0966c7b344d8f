package recording

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"taskcenter/internal/facade"
)

// session is one long connection: the app it logged in as, and its command budget.
type session struct {
	conn   *websocket.Conn
	app    *app
	tokens float64 // the rate limiter's bucket
	last   time.Time
}

// connSet holds the open connections, for Close.
type connSet struct {
	mu sync.Mutex
	m  map[*session]struct{}
}

func (c *connSet) add(s *session) {
	c.mu.Lock()
	c.m[s] = struct{}{}
	c.mu.Unlock()
}

func (c *connSet) remove(s *session) {
	c.mu.Lock()
	delete(c.m, s)
	c.mu.Unlock()
}

func (c *connSet) snapshot() []*session {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*session, 0, len(c.m))
	for s := range c.m {
		out = append(out, s)
	}
	return out
}

// pingIdle pings every open connection each PingEvery and closes those whose peer does not answer,
// so that a client that vanished without closing does not hold a connection for ever.
func (a *API) pingIdle() {
	t := time.NewTicker(a.cfg.PingEvery)
	defer t.Stop()
	for {
		select {
		case <-a.done:
			return
		case <-t.C:
		}
		for _, s := range a.conns.snapshot() {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), a.cfg.PingEvery)
				defer cancel()
				if err := s.conn.Ping(ctx); err != nil {
					_ = s.conn.CloseNow()
				}
			}()
		}
	}
}

func (c *connSet) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := range c.m {
		_ = s.conn.Close(websocket.StatusGoingAway, "server shutting down")
	}
}

// Frames over this are read to their end and answered CodeFrameTooLarge; over readLimitFactor times
// MaxFrameBytes the connection is closed (the peer is not a client of the document).
const readLimitFactor = 16

// serveWS runs the long connection: one JSON command per text frame, answered in order.
func (a *API) serveWS(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept answered the client
	}
	s := &session{conn: conn, tokens: float64(a.cfg.CommandBurst), last: time.Now()}
	conn.SetReadLimit(int64(a.cfg.MaxFrameBytes) * readLimitFactor)
	a.conns.add(s)
	defer a.conns.remove(s)
	// The connection outlives the request's handler only as long as the handler runs; commands use a
	// context that ends with the connection.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	for {
		typ, rd, err := conn.Reader(ctx)
		if err != nil {
			_ = conn.CloseNow()
			return
		}
		frame, err := io.ReadAll(io.LimitReader(rd, int64(a.cfg.MaxFrameBytes)+1))
		if err == nil && len(frame) > a.cfg.MaxFrameBytes {
			_, err = io.Copy(io.Discard, rd)
			if err == nil {
				err = a.reply(ctx, s, command{}, errf(CodeFrameTooLarge, "a frame holds at most %d bytes", a.cfg.MaxFrameBytes), nil)
			}
			if err != nil {
				_ = conn.CloseNow()
				return
			}
			continue
		}
		if err != nil {
			_ = conn.CloseNow()
			return
		}
		var fields map[string]any
		var cmd command
		var ferr *facade.Error
		switch {
		case typ != websocket.MessageText:
			ferr = errf(CodeBadFrame, "send commands as text frames")
		case !s.allow(time.Now(), a.cfg.CommandsPerSecond, float64(a.cfg.CommandBurst)):
			cmd, _ = decodeCommand(frame)
			ferr = errf(CodeRateLimited, "at most %g commands a second", a.cfg.CommandsPerSecond)
		default:
			if cmd, ferr = decodeCommand(frame); ferr == nil {
				fields, ferr = a.handle(ctx, s, cmd)
			}
		}
		if err := a.reply(ctx, s, cmd, ferr, fields); err != nil {
			_ = conn.CloseNow()
			return
		}
	}
}

// allow takes a token from the session's bucket.
func (s *session) allow(now time.Time, rate, burst float64) bool {
	s.tokens = min(burst, s.tokens+now.Sub(s.last).Seconds()*rate)
	s.last = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// reply writes the answer of cmd: business, id + 4096, code, msg, seq, and the command's fields.
func (a *API) reply(ctx context.Context, s *session, cmd command, ferr *facade.Error, fields map[string]any) error {
	out := map[string]any{}
	for k, v := range fields {
		out[k] = v
	}
	out["business"] = "RE"
	out["id"] = 0
	if cmd.ID > 0 {
		out["id"] = cmd.ID + replyOffset
	}
	out["code"], out["msg"] = CodeOK, "OK"
	if ferr != nil {
		out["code"], out["msg"] = ferr.Code, ferr.Msg
		if ferr.Code == CodeInternal && ferr.Err != nil {
			a.log.Error("recording command", "id", cmd.ID, "err", ferr.Err)
		}
	}
	if cmd.Seq != nil {
		out["seq"] = cmd.Seq
	} else {
		out["seq"] = ""
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return s.conn.Write(wctx, websocket.MessageText, b)
}

// handle runs one decoded command.
func (a *API) handle(ctx context.Context, s *session, cmd command) (map[string]any, *facade.Error) {
	if cmd.ID == CmdLogin {
		appID, err := cmd.P.Text("app_id", true, 64)
		if err != nil {
			return nil, codes.Of(err)
		}
		token, err := cmd.P.Text("token", true, 512)
		if err != nil {
			return nil, codes.Of(err)
		}
		ap, ferr := a.authenticate(ctx, appID, token)
		if ferr != nil {
			return nil, ferr
		}
		s.app = &ap
		return nil, nil
	}
	switch cmd.ID {
	case CmdInit, CmdResume, CmdPause, CmdStop, CmdLayout, CmdSubtitles, CmdQuery, CmdMedia, CmdGroupQuery:
	default:
		return nil, errf(CodeUnknownCmd, "unknown command id %d", cmd.ID)
	}
	if s.app == nil {
		return nil, errf(CodeNotLoggedIn, "")
	}
	fields, err := a.run(ctx, *s.app, cmd)
	if err != nil {
		var fe *facade.Error
		if !errors.As(err, &fe) {
			fe = codes.Of(err)
		}
		return fields, fe
	}
	return fields, nil
}

// run executes a command of a logged-in app.
func (a *API) run(ctx context.Context, ap app, cmd command) (map[string]any, error) {
	p := cmd.P
	if cmd.ID == CmdInit {
		ip, err := readInit(p)
		if err != nil {
			return nil, err
		}
		r, err := a.initRecording(ctx, ap, ip)
		if err != nil {
			return nil, err
		}
		return map[string]any{"record_id": r.id()}, nil
	}
	if cmd.ID == CmdQuery {
		return a.query(ctx, ap, p)
	}
	if cmd.ID == CmdMedia {
		c, err := readMediaChange(p)
		if err != nil {
			return nil, err
		}
		return map[string]any{"group_id": c.GroupID}, a.changeMedia(ctx, ap, c)
	}
	if cmd.ID == CmdGroupQuery {
		return a.groupQuery(ctx, ap, p)
	}
	recordID, err := p.Text("record_id", true, 32)
	if err != nil {
		return nil, err
	}
	fields := map[string]any{"record_id": recordID}
	switch cmd.ID {
	case CmdPause, CmdResume:
		err = a.setPaused(ctx, ap, recordID, cmd.ID == CmdPause)
	case CmdStop:
		var res stopResult
		res, err = a.stop(ctx, ap, recordID, "")
		fields["media_duration"], fields["record_duration"], fields["flow"] = res.MediaSeconds, res.RecordSeconds, res.FlowKB
	case CmdLayout:
		var audio []audioItem
		var video []videoItem
		if audio, video, err = readLayout(p); err == nil {
			err = a.setLayout(ctx, ap, recordID, audio, video)
		}
	case CmdSubtitles:
		var subs []subtitleItem
		if subs, err = readSubtitles(p); err == nil {
			err = a.setSubtitles(ctx, ap, recordID, subs)
		}
	}
	return fields, err
}

// groupQuery is the extension 4106: a group's users and media.
func (a *API) groupQuery(ctx context.Context, ap app, p facade.Params) (map[string]any, error) {
	groupID, err := p.Text("group_id", true, maxText)
	if err != nil {
		return nil, err
	}
	g, err := a.loadGroup(ctx, ap.AccountID, ap.ID, groupID)
	if err != nil {
		return nil, err
	}
	out := groupView(g.Doc)
	out["group_id"] = groupID
	return out, nil
}
