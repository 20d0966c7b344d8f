package main

import (
	"context"
	"strings"
	"testing"
)

// TestAdminDialectHelp: `admin aitasks help` and `admin projects help`, as the README tells a new
// user to type, print their usage without calling the server.
func TestAdminDialectHelp(t *testing.T) {
	c := adminClient{}
	for _, tc := range []struct {
		name string
		run  func(context.Context, []string) ([]byte, error)
		args []string
		want string
	}{
		{"aitasks help", c.aitasks, []string{"help"}, adminAITasksUsage},
		{"aitasks alone", c.aitasks, nil, adminAITasksUsage},
		{"projects help", c.projects, []string{"help"}, adminProjectsUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.run(context.Background(), tc.args)
			if err != nil || string(out) != tc.want {
				t.Fatalf("got %q, %v", strings.SplitN(string(out), "\n", 2)[0], err)
			}
		})
	}
}
