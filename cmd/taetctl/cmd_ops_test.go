package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/taet-ml/taet/graphs"
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
