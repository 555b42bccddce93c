package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// stopSignals are the signals that interrupt a command: it finishes its
// step, saves and exits (exitInterrupted, exitHangup for SIGHUP). SIGHUP
// is a dropped ssh session or a closed terminal: without it here, Go's
// default would kill the process at once and lose the epoch in progress.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return fmt.Sprintf("interrupted by %v", e.sig) }

// signalContext returns a context cancelled, with a signalError as its
// cause, by the first of stopSignals; stop releases the signals.
func signalContext() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, stopSignals...)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			cancel(signalError{sig}) // later ones are absorbed, as with signal.NotifyContext
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
	}
}

// interruptCode is the exit code of a command interrupted through ctx:
// 128 + 1 for SIGHUP, as a shell reports a process the signal ended,
// else exitInterrupted.
func interruptCode(ctx context.Context) int {
	if se, ok := context.Cause(ctx).(signalError); ok && se.sig == syscall.SIGHUP {
		return exitHangup
	}
	return exitInterrupted
}
