package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"taskcenter/internal/agentapi"
)

// fakeEnv is an agent.Env that records what an executor reports.
type fakeEnv struct {
	t      testing.TB
	dir    string
	inputs map[string]string // hash -> local path
	// onUpload, when set, runs before each upload (with the log so far); its error fails the upload.
	onUpload func(name, log string) error

	mu       sync.Mutex
	progress []float64
	log      strings.Builder
	uploads  map[string][]byte
	order    []string // upload names in the order they came
}

func newFakeEnv(t testing.TB) *fakeEnv {
	return &fakeEnv{t: t, dir: t.TempDir(), inputs: map[string]string{}, uploads: map[string][]byte{}}
}

func (e *fakeEnv) Progress(p float64, log string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p >= 0 {
		e.progress = append(e.progress, p)
	}
	e.log.WriteString(log)
}

func (e *fakeEnv) Upload(ctx context.Context, name, path string) (agentapi.OutputResponse, error) {
	if e.onUpload != nil {
		if err := e.onUpload(name, e.Log()); err != nil {
			return agentapi.OutputResponse{}, err
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return agentapi.OutputResponse{}, fmt.Errorf("upload %s: %w", name, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.uploads[name] = data
	e.order = append(e.order, name)
	sum := sha256.Sum256(data)
	return agentapi.OutputResponse{Name: name, Output: agentapi.Output{Hash: hex.EncodeToString(sum[:]), Size: int64(len(data))}}, nil
}

func (e *fakeEnv) Input(ctx context.Context, hash string) (string, error) {
	p, ok := e.inputs[hash]
	if !ok {
		return "", fmt.Errorf("no input %s", hash)
	}
	return p, nil
}

func (e *fakeEnv) Dir() string { return e.dir }

func (e *fakeEnv) TrackGroup(int) func() { return func() {} }

func (e *fakeEnv) Log() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.String()
}

func (e *fakeEnv) Progresses() []float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]float64(nil), e.progress...)
}
