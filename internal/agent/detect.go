package agent

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// versionPattern finds the first dotted version number in a --version banner.
var versionPattern = regexp.MustCompile(`\d+\.\d+(\.\d+)?[\w.+~-]*`)

// probedSoftware names the programs the agent looks for on start, with the flag printing their
// version. A capability of the same name is only advertised when the program is found.
func probedSoftware() map[string]string {
	return map[string]string{"blender": "--version", "ffmpeg": "-version"}
}

// requiredSoftware names capabilities that need a probed program without being named after it:
// a recorder is advertised only where ffmpeg runs.
func requiredSoftware() map[string]string {
	return map[string]string{"recorder": "ffmpeg"}
}

// detectSoftware runs each probe and returns the versions of the programs found.
func detectSoftware(ctx context.Context) map[string]string {
	found := map[string]string{}
	for name, flag := range probedSoftware() {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(pctx, path, flag).Output()
		cancel()
		if err != nil {
			continue // present but broken (missing libraries): not a capability
		}
		found[name] = parseVersion(name, string(out))
	}
	return found
}

// parseVersion picks the version from the banner line that names the program ("Blender 3.4.1",
// "ffmpeg version 5.1.4-0+deb12u1 ..."); "unknown" when there is none.
func parseVersion(name, banner string) string {
	for line := range strings.SplitSeq(banner, "\n") {
		if strings.Contains(strings.ToLower(line), name) {
			if v := versionPattern.FindString(line); v != "" {
				return v
			}
		}
	}
	return "unknown"
}

// hostInfo is the Info document of the registration.
type hostInfo struct {
	Software map[string]string `json:"software"`
	Host     string            `json:"host"`
	OS       string            `json:"os"`
	IP       string            `json:"ip,omitempty"`
	CPUs     int               `json:"cpus"`
	Slots    int               `json:"slots"`
}

func buildInfo(ctx context.Context, serverURL string, software map[string]string, slots int, extra map[string]string) json.RawMessage {
	host, _ := os.Hostname()
	info := hostInfo{
		Software: software,
		Host:     host,
		OS:       runtime.GOOS + "/" + runtime.GOARCH,
		IP:       outboundIP(ctx, serverURL),
		CPUs:     runtime.NumCPU(),
		Slots:    slots,
	}
	data, _ := json.Marshal(info) // plain strings and ints cannot fail
	if len(extra) == 0 {
		return data
	}
	merged := map[string]any{}
	_ = json.Unmarshal(data, &merged)
	for k, v := range extra {
		if _, detected := merged[k]; !detected {
			merged[k] = v
		}
	}
	data, _ = json.Marshal(merged)
	return data
}

// outboundIP is the local address the agent reaches the server from: connecting a UDP socket sends
// nothing but makes the kernel choose the route and source address.
func outboundIP(ctx context.Context, serverURL string) string {
	u, err := url.Parse(serverURL)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // name resolution
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return ""
	}
	defer conn.Close()
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		return a.IP.String()
	}
	return ""
}

// withCapacity adds the cost budget of an agent that admits units by cost (a recorder's CPU cores)
// to its registration's host description.
func withCapacity(info json.RawMessage, capacity float64) json.RawMessage {
	merged := map[string]any{}
	if json.Unmarshal(info, &merged) != nil {
		return info
	}
	merged["capacity"] = capacity
	data, err := json.Marshal(merged)
	if err != nil {
		return info
	}
	return data
}
