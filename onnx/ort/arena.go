package ort

import "sync"

// The CPU sessions of a process allocate their intermediate tensors from one
// arena that the runtime's environment holds, instead of one arena each.
// Training creates several sessions that run in turn (the training step, a
// new attack session every step, evaluation), and each arena kept the
// memory of its largest run until its session closed, and glibc much of it
// after: their peaks added up. One arena holds the largest of them, and grows
// by what a request needs, not to the next power of two.
var sharedArena struct {
	once sync.Once
	err  error
}

// useSharedArena registers the shared arena the first time it is called
// and returns the error of that registration.
func useSharedArena() error {
	sharedArena.once.Do(func() { sharedArena.err = shareCPUArena() })
	return sharedArena.err
}
