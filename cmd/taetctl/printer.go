package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// printer is how every command reports. A result goes to stdout: one JSON
// line (carrying its message_type) with --json, else text. Progress goes to
// stderr as text, or with --json to stdout as "status" JSON lines; --quiet
// silences it.
type printer struct {
	json, quiet    bool
	stdout, stderr io.Writer
}

func newPrinter(g globalOptions, stdout, stderr io.Writer) printer {
	return printer{json: g.JSON, quiet: g.Quiet, stdout: stdout, stderr: stderr}
}

// result writes v as a JSON line with --json, else calls text on stdout.
func (p printer) result(v any, text func(w io.Writer) error) error {
	if p.json {
		return writeJSON(p.stdout, v)
	}
	return text(p.stdout)
}

// resultLines writes each of vs as a JSON line with --json, else calls
// text on stdout once.
func resultLines[T any](p printer, vs []T, text func(w io.Writer) error) error {
	if !p.json {
		return text(p.stdout)
	}
	for _, v := range vs {
		if err := writeJSON(p.stdout, v); err != nil {
			return err
		}
	}
	return nil
}

// progress writes status (a map or struct with message_type "status") as a
// JSON line with --json, else the formatted line on stderr; nothing with
// --quiet.
func (p printer) progress(status any, format string, args ...any) {
	switch {
	case p.json:
		writeJSON(p.stdout, status)
	case !p.quiet:
		fmt.Fprintf(p.stderr, format+"\n", args...)
	}
}

// note writes a line for people on stderr: not with --json or --quiet.
func (p printer) note(format string, args ...any) {
	if !p.json && !p.quiet {
		fmt.Fprintf(p.stderr, format+"\n", args...)
	}
}

// bar reports whether progress can be drawn as a bar: stderr is a
// terminal and neither --json nor --quiet is set.
func (p printer) bar() bool { return !p.json && !p.quiet && stderrIsTerminal() }

// exitError writes the error a command ends with to stderr: an
// "exit_error" JSON object with --json, else a line of text. A nil err is
// an interruption that ended without one.
func (p printer) exitError(code int, err error) {
	if err == nil {
		err = errors.New("interrupted")
	}
	if p.json {
		writeJSON(p.stderr, map[string]any{"message_type": "exit_error", "code": code, "message": err.Error()})
		return
	}
	fmt.Fprintf(p.stderr, "taetctl: %v\n", err)
}

// writeJSON writes v as one JSON line.
func writeJSON(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// jsonIndent returns v as indented JSON with a final newline, for files people read.
func jsonIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	return append(b, '\n'), err
}
