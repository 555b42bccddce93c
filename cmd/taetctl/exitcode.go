package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx/ort"
)

// Exit codes. One table, repeated in every command's help (exitStatusHelp).
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitNoRuntime   = 10
	exitBuild       = 11
	exitData        = 12
	exitHangup      = 129 // SIGHUP: saved, then exited as after SIGINT
	exitInterrupted = 130
)

// exitStatusHelp ends every command's Description.
const exitStatusHelp = `EXIT STATUS
  0 success · 1 error · 2 usage · 10 ONNX Runtime unavailable · 11 graph build error
  12 data or checkpoint error · 129 hung up (SIGHUP) · 130 interrupted (SIGINT, SIGTERM)`

// usageError marks a bad flag, value or argument (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// dataError marks an unreadable or invalid data set, checkpoint or model file (exit 12).
type dataError struct{ err error }

func (e dataError) Error() string { return e.err.Error() }
func (e dataError) Unwrap() error { return e.err }

// exitCode maps err to the table above. ctx is cancelled by SIGINT,
// SIGTERM or SIGHUP only: an interrupted command that fails exits 130
// (129 after SIGHUP), whatever its error says; an error that merely wraps
// context.Canceled is not an interruption.
func exitCode(ctx context.Context, err error) int {
	var (
		ue usageError
		de dataError
		be *graphs.BuildError
	)
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		return interruptCode(ctx)
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, ort.ErrNoRuntime):
		return exitNoRuntime
	case errors.As(err, &be):
		return exitBuild
	case errors.As(err, &de):
		return exitData
	}
	return exitError
}
