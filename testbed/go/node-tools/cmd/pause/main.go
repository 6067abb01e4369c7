// Command pause is the program of the testbed's sandbox (pause) image: the process that holds a pod's
// namespaces. As Kubernetes' own pause (build/pause/linux/pause.c) it blocks until SIGINT or SIGTERM and
// then exits 0, and, being the init process of the pod's PID namespace when the namespace is shared, it
// reaps the zombie children it inherits on SIGCHLD.
//
// Built with CGO_ENABLED=0 so the image needs nothing but this one static file.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is what `pause -v` prints, as the real pause does.
const version = "cairn-testbed-pause 1.0"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println(version)
		return
	}
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	// After the handlers are installed: a test waits for this line before it signals.
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "Shutting down, got signal: %v\n", sig)
		os.Exit(0)
	}
}

// reap collects every child that has exited. Signals coalesce, so one SIGCHLD may stand for several
// children: wait until none is left to collect.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
