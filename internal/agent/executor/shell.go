package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"taskcenter/internal/agent"
	"taskcenter/internal/agentapi"
	"taskcenter/internal/unitspec"
)

// The spec and result of a shell unit live in internal/unitspec.
type (
	ShellSpec   = unitspec.Shell
	ShellResult = unitspec.ShellResult
)

// Shell runs shell units.
type Shell struct {
	// Program, when set, is the only program this executor runs (by base name): the "ffmpeg"
	// capability is a shell restricted to ffmpeg.
	Program string
	// Grace is how long a cancelled command gets between SIGTERM and SIGKILL; default 5s.
	Grace time.Duration
}

var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}`)

// substitute replaces the placeholders of s from vars.
func substitute(s string, vars map[string]string) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		name := placeholder.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("unknown placeholder {{%s}} in %q", missing[0], s)
	}
	return out, nil
}

// prepared is a shell spec with every placeholder substituted.
type prepared struct {
	args    []string
	env     map[string]string
	dir     string
	outputs []string
}

func (s *Shell) prepare(u agentapi.Unit, workdir string, spec ShellSpec) (prepared, error) {
	if len(spec.Command) == 0 || spec.Command[0] == "" {
		return prepared{}, errors.New("command is empty")
	}
	vars := map[string]string{}
	for k, v := range spec.Vars {
		vars[k] = v
	}
	// Built-ins win: a spec must not redirect {{workdir}} elsewhere.
	vars["workdir"] = workdir
	vars["unit_id"] = strconv.FormatInt(u.UnitID, 10)
	vars["job_id"] = strconv.FormatInt(u.JobID, 10)
	vars["attempt"] = strconv.Itoa(u.Attempt)
	p := prepared{env: map[string]string{}}
	for _, a := range spec.Command {
		v, err := substitute(a, vars)
		if err != nil {
			return p, err
		}
		p.args = append(p.args, v)
	}
	if s.Program != "" && filepath.Base(p.args[0]) != s.Program {
		return p, fmt.Errorf("this capability runs only %s, not %q", s.Program, p.args[0])
	}
	for k, v := range spec.Env {
		sv, err := substitute(v, vars)
		if err != nil {
			return p, err
		}
		p.env[k] = sv
	}
	p.env["TASKCENTER_UNIT_ID"] = vars["unit_id"]
	p.env["TASKCENTER_JOB_ID"] = vars["job_id"]
	p.env["TASKCENTER_WORKDIR"] = workdir
	dir, err := substitute(spec.Dir, vars)
	if err != nil {
		return p, err
	}
	p.dir = workdir
	if dir != "" {
		p.dir = dir
		if !filepath.IsAbs(dir) {
			p.dir = filepath.Join(workdir, dir)
		}
	}
	for _, o := range spec.Outputs {
		v, err := substitute(o, vars)
		if err != nil {
			return p, err
		}
		if v == "" {
			return p, errors.New("an output path is empty")
		}
		p.outputs = append(p.outputs, v)
	}
	return p, nil
}

// Run runs the command, streams its output to the unit log, and uploads the outputs on success.
func (s *Shell) Run(ctx context.Context, u agentapi.Unit, env agent.Env) (agent.Result, error) {
	var spec ShellSpec
	if err := decodeSpec(u.Spec, &spec); err != nil {
		return agent.Result{}, err
	}
	p, err := s.prepare(u, env.Dir(), spec)
	if err != nil {
		return agent.Result{}, agent.Permanent(fmt.Errorf("shell spec: %w", err))
	}
	grace := s.Grace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return agent.Result{}, fmt.Errorf("shell dir: %w", err)
	}
	cmd := command(ctx, grace, p.args[0], p.args[1:]...)
	cmd.Dir = p.dir
	cmd.Env = environ(p.env)
	out := &logWriter{env: env}
	// One writer for both streams keeps stdout and stderr lines in the order they were written.
	cmd.Stdout, cmd.Stderr = out, out
	env.Progress(0, "")
	err = run(cmd, env)
	if ctx.Err() != nil {
		return agent.Result{}, fmt.Errorf("%s stopped: %w", p.args[0], context.Cause(ctx))
	}
	if err != nil {
		var startErr *exec.Error
		if errors.As(err, &startErr) {
			// Not permanent: another agent may have the program.
			return agent.Result{}, &agent.Failure{Err: fmt.Errorf("start %s: %w", p.args[0], err), ExitCode: -1}
		}
		return agent.Result{}, exitFailure(p.args[0], err, out.Tail())
	}
	res := ShellResult{}
	for _, o := range p.outputs {
		path := o
		if !filepath.IsAbs(path) {
			path = filepath.Join(p.dir, o)
		}
		name := OutputName(o)
		if _, dup := res.Outputs[name]; dup {
			return agent.Result{}, agent.Permanent(fmt.Errorf("two outputs are both named %s", name))
		}
		up, err := env.Upload(ctx, name, path)
		if err != nil {
			return agent.Result{}, fmt.Errorf("output %s: %w", o, err)
		}
		if res.Outputs == nil {
			res.Outputs = map[string]agentapi.OutputResponse{}
		}
		res.Outputs[name] = up
	}
	env.Progress(100, "")
	return agent.Result{Data: res}, nil
}

// OutputName turns an output path into a protocol output name: every character other than a letter,
// digit, '.', '-' or '_' becomes '_', a leading '.' too, and the name keeps its last 100 bytes (the
// end carries the extension and the frame number).
func OutputName(path string) string {
	b := []byte(filepath.ToSlash(path))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > 100 {
		b = b[len(b)-100:]
	}
	if len(b) > 0 && b[0] == '.' {
		b[0] = '_'
	}
	return string(b)
}
