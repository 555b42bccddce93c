package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/urfave/cli/v2"
)

func TestOpsListsEveryOp(t *testing.T) {
	var text, js bytes.Buffer
	if err := runOps(globalOptions{}, &text); err != nil {
		t.Fatal(err)
	}
	if err := runOps(globalOptions{JSON: true}, &js); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	if len(lines) != len(graphs.Ops()) {
		t.Fatalf("--json printed %d ops, the builder has %d", len(lines), len(graphs.Ops()))
	}
	for _, l := range lines {
		var r opInfo
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", l, err)
		}
		if r.Version == 0 || r.Gradient == "unknown" {
			t.Errorf("op %s: version %d, gradient %s", r.Op, r.Version, r.Gradient)
		}
		if !strings.Contains(text.String(), r.Op) {
			t.Errorf("text output lacks %s", r.Op)
		}
	}
}

func TestExitCodes(t *testing.T) {
	t.Setenv("TAET_DATA", t.TempDir()) // an empty data set cache
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"taetctl", "ops"}, exitOK},
		{[]string{"taetctl", "no-such-command"}, exitUsage},
		{[]string{"taetctl", "--no-such-flag", "ops"}, exitUsage},
		{[]string{"taetctl", "fit", "--stage", "bogus:3"}, exitUsage},
		{[]string{"taetctl", "fit", "--eps", "8/0"}, exitUsage},
		{[]string{"taetctl", "fit", "--method", "nope"}, exitUsage},
		{[]string{"taetctl", "fit", "--dataset", "cifar10"}, exitData}, // no --data, not in the cache
		{[]string{"taetctl", "fit", "--dataset", "mnist"}, exitUsage},  // no --data, nothing to fetch
		{[]string{"taetctl", "fit", "--device", "tpu"}, exitUsage},
		{[]string{"taetctl", "fit", "--dataset", "cifar10", "--data", "/nonexistent", "--out", "/tmp/taet-test-nodata"}, exitData},
		{[]string{"taetctl", "build-graph", "--loss", "mse"}, exitUsage},
	} {
		g := &globalOptions{}
		app := newApp(g)
		var out bytes.Buffer
		app.Writer, app.ErrWriter = &out, &out
		err := app.RunContext(context.Background(), tc.args)
		if got := exitCode(context.Background(), err); got != tc.want {
			t.Errorf("%v: exit code %d (%v), want %d", tc.args, got, err, tc.want)
		}
	}
}

// TestGlobalFlagsAfterTheCommand: `taetctl ops --json`, as users type it,
// prints what `taetctl --json ops` does.
func TestGlobalFlagsAfterTheCommand(t *testing.T) {
	run := func(args ...string) string {
		var out bytes.Buffer
		app := newApp(&globalOptions{})
		app.Writer, app.ErrWriter = &out, &out
		if err := app.RunContext(context.Background(), append([]string{"taetctl"}, args...)); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	before, after := run("--json", "ops"), run("ops", "--json")
	if !strings.HasPrefix(after, `{"message_type":"op"`) || after != before {
		t.Errorf("ops --json printed %.80q…, --json ops %.80q…", after, before)
	}
}

// TestExitCodeInterrupted: 130 (129 after SIGHUP) only when the command was interrupted (its
// context cancelled by a signal), never for an error that merely wraps
// context.Canceled; an interrupted command that still succeeded exits 0.
func TestExitCodeInterrupted(t *testing.T) {
	interrupted, cancel := context.WithCancel(context.Background())
	cancel()
	hungUp, hangUp := context.WithCancelCause(context.Background())
	hangUp(signalError{syscall.SIGHUP})
	terminated, terminate := context.WithCancelCause(context.Background())
	terminate(signalError{syscall.SIGTERM})
	wrapped := fmt.Errorf("a library call: %w", context.Canceled)
	for _, tc := range []struct {
		ctx  context.Context
		err  error
		want int
	}{
		{context.Background(), wrapped, exitError},
		{interrupted, wrapped, exitInterrupted},
		{interrupted, usagef("bad"), exitInterrupted},
		{interrupted, nil, exitOK},
		{hungUp, wrapped, exitHangup},
		{terminated, wrapped, exitInterrupted},
	} {
		if got := exitCode(tc.ctx, tc.err); got != tc.want {
			t.Errorf("exitCode(ctx cancelled %v, %v) = %d, want %d", tc.ctx.Err() != nil, tc.err, got, tc.want)
		}
	}
}

// TestEveryCommandTakesTheGlobalFlags runs every command and subcommand
// with --help and --json after it: a command defining a global flag again
// panics here ("flag redefined").
func TestEveryCommandTakesTheGlobalFlags(t *testing.T) {
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := append(slices.Clone(path), c.Name)
			app := newApp(&globalOptions{})
			app.Writer, app.ErrWriter = io.Discard, io.Discard
			if err := app.Run(append(append([]string{"taetctl"}, p...), "--json", "--help")); err != nil {
				t.Errorf("%v --json --help: %v", p, err)
			}
			walk(p, c.Subcommands)
		}
	}
	walk(nil, newApp(&globalOptions{}).Commands)
}
