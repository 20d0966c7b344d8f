// Command recws measures the cloud recording long connection against a running server: it opens
// many WebSocket connections, logs each in, keeps them idle, reads the server's resident memory
// (from /proc/PID/status) before and after, and measures the round trip of a command (4104 query),
// one at a time, over those connections.
//
//	go run ./bench/recws -url ws://127.0.0.1:18080/api/record/ws -app APP -secret SECRET -pid PID
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"taskcenter/internal/recording"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:8080"+recording.PathWS, "the long connection's URL")
	appID := flag.String("app", "", "app_id")
	secret := flag.String("secret", "", "the app's secret")
	conns := flag.Int("conns", 1000, "idle logged-in connections to hold")
	samples := flag.Int("samples", 5000, "round trips to time")
	cmd := flag.String("cmd", `{"business":"RE","id":4104,"page_size":1,"seq":"q"}`, "the timed command")
	pid := flag.Int("pid", 0, "the server's process id, to read its memory")
	flag.Parse()
	if *appID == "" || *secret == "" {
		log.Fatal("-app and -secret are required")
	}
	ctx := context.Background()
	token := recording.MintToken(*appID, *secret, time.Now().Add(time.Hour), "load")
	login, _ := json.Marshal(map[string]any{"business": "RE", "id": recording.CmdLogin, "app_id": *appID, "token": token, "seq": "l"})

	before := rss(*pid)
	held := make([]*websocket.Conn, 0, *conns)
	start := time.Now()
	for i := 0; i < *conns; i++ {
		c, _, err := websocket.Dial(ctx, *url, nil)
		if err != nil {
			log.Fatalf("dial %d: %v", i, err)
		}
		if code := roundTrip(ctx, c, login); code != 0 {
			log.Fatalf("login %d: code %d", i, code)
		}
		held = append(held, c)
	}
	opened := time.Since(start)
	time.Sleep(2 * time.Second) // let the server settle after the burst of handshakes
	after := rss(*pid)
	fmt.Printf("connections: %d logged in (in %v)\n", len(held), opened.Round(time.Millisecond))
	if *pid > 0 {
		fmt.Printf("server RSS: %.1f MB before, %.1f MB with the connections open (+%.1f MB, %.1f KB per connection)\n",
			mb(before), mb(after), mb(after-before), float64(after-before)/1024/float64(len(held)))
	}

	// The commands go round the connections, so that none passes its rate (20 a second, bursts of 40).
	frame := []byte(*cmd)
	lat := make([]time.Duration, 0, *samples)
	for i := 0; i < *samples; i++ {
		c := held[i%len(held)]
		t0 := time.Now()
		if code := roundTrip(ctx, c, frame); code != 0 {
			log.Fatalf("command: code %d", code)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	fmt.Printf("round trip of %d commands, one at a time over the connections: p50 %v, p90 %v, p99 %v, max %v\n",
		len(lat), q(0.5).Round(time.Microsecond), q(0.9).Round(time.Microsecond), q(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	if *pid > 0 {
		fmt.Printf("server RSS after the commands: %.1f MB\n", mb(rss(*pid)))
	}
	for _, c := range held {
		_ = c.Close(websocket.StatusNormalClosure, "")
	}
}

func roundTrip(ctx context.Context, c *websocket.Conn, frame []byte) int {
	if err := c.Write(ctx, websocket.MessageText, frame); err != nil {
		log.Fatal(err)
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var r struct {
		Code int `json:"code"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		log.Fatalf("answer %s: %v", b, err)
	}
	return r.Code
}

// rss reads a process's resident set in bytes (0 without a pid).
func rss(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
