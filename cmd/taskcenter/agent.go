package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	"taskcenter/internal/agent"
	"taskcenter/internal/agent/executor"
	"taskcenter/internal/unitspec"
)

func agentCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("agent", flag.ExitOnError)
	var c agent.Config
	host, _ := os.Hostname()
	fs.StringVar(&c.ServerURL, "server", envOr("TASKCENTER_SERVER", "http://127.0.0.1:8080"), "server URL")
	fs.StringVar(&c.Token, "token", envOr("TASKCENTER_AGENT_TOKEN", ""), "agent enrollment token (see credentials.json in the server's data directory)")
	fs.StringVar(&c.Name, "name", host, "agent name, unique per agent (a robot's number)")
	fs.StringVar(&c.Kind, "kind", "render", "worker kind: render, robot, studio, recorder, ...")
	tags := fs.String("tags", "", "comma-separated tags")
	fs.StringVar(&c.WorkDir, "work-dir", "", "directory for the outbox, input cache and scratch space")
	fs.IntVar(&c.Slots, "slots", 1, "units to run at once")
	oapi := fs.String("oapi-url", envOr("TASKCENTER_OAPI_URL", ""), "robot/studio: base URL processes call the RPA OAPI at (default: -server)")
	machine := fs.String("machine-code", "", "robot/studio: machine code to register with (default: the OS machine id)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	cpuBudget := fs.Float64("cpu-budget", float64(runtime.NumCPU()), "recorder: CPU cores the recordings may cost in all (admission by cost)")
	fileRoot := fs.String("file-root", "", "recorder: directory whose files may be recording sources (none when empty)")
	preset := fs.String("recorder-preset", executor.DefaultPreset, "recorder: x264 preset of the recordings (faster presets cost less CPU and make larger files)")
	crf := fs.Int("recorder-crf", executor.DefaultCRF, "recorder: x264 constant rate factor of the recordings (lower is better and larger)")
	previewOn := fs.Bool("blender-preview", true, "render: before each frame, render a small few-sample progress image the console shows while the frame renders")
	var preview executor.BlenderPreview
	fs.IntVar(&preview.Samples, "blender-preview-samples", executor.DefaultPreviewSamples, "render: samples of a progress image")
	fs.Float64Var(&preview.MinWork, "blender-preview-min-work", executor.DefaultPreviewMinWork, "render: a unit's first frame gets a progress image when its pixels × samples reach this")
	fs.Float64Var(&preview.MaxShare, "blender-preview-max-share", executor.DefaultPreviewMaxShare, "render: later frames (and later units of the scene) get one while the last cost at most this share of its frame's render time")
	fs.Parse(args)
	if *tags != "" {
		c.Tags = strings.Split(*tags, ",")
	}
	c.Executors = executor.Defaults()
	preview.Off = !*previewOn
	c.Executors["blender"] = &executor.Blender{Preview: preview}
	if c.Kind == "robot" || c.Kind == "studio" {
		// A robot runs published processes only; its own tag lets jobs limited to it find it.
		if *oapi == "" {
			*oapi = c.ServerURL
		}
		c.Executors = map[string]agent.Executor{"rpa": &executor.RPA{OAPIURL: *oapi}}
		c.Tags = append(c.Tags, executor.RobotTagPrefix+c.Name)
		c.Info = executor.RobotInfo(version)
		if *machine != "" {
			c.Info["machineCode"] = *machine
		}
	}
	if c.Kind == "recorder" {
		if err := executor.CheckEncoder(*preset, *crf); err != nil {
			return fmt.Errorf("agent: -recorder-preset, -recorder-crf: %w", err)
		}
		// A recorder takes recordings while their costs fit in its CPU budget, not by count.
		c.Executors = map[string]agent.Executor{unitspec.CapRecorder: &executor.Recorder{FileRoot: *fileRoot, Preset: *preset, CRF: *crf}}
		c.Cost, c.Capacity = executor.RecorderCost, *cpuBudget
		if !flagSet(fs, "slots") {
			c.Slots = 64
		}
	}
	return agent.Run(ctx, c, newLogger(*logLevel))
}

// flagSet reports whether the command line set the flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
