package executor

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/user"
	"strings"
)

// RobotTagPrefix + the robot's name is the tag a robot registers with: a job limited to candidate
// robots carries its candidates' tags (the RPA facade writes them the same way).
const RobotTagPrefix = "rpa.robot:"

// RobotInfo is what a robot or studio adds to its registration: its machine code (the OS machine id,
// else a hash of the host name), the user it runs as, and its version.
func RobotInfo(version string) map[string]string {
	info := map[string]string{"machineCode": MachineCode(), "version": version}
	if u, err := user.Current(); err == nil {
		info["user"] = u.Username
	} else if name := os.Getenv("USER"); name != "" {
		info["user"] = name
	}
	return info
}

// MachineCode identifies the machine across restarts and re-installs of the agent.
func MachineCode() string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil {
			if id := strings.TrimSpace(string(b)); id != "" {
				return id
			}
		}
	}
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte("taskcenter-machine:" + host))
	return hex.EncodeToString(sum[:16])
}
