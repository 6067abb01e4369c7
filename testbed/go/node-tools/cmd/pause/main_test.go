package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the pause program: started with this variable set, it runs main().
const runMainEnv = "CAIRN_PAUSE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func pauseCommand(args ...string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(self)
	if len(args) > 0 {
		cmd = exec.Command(args[0], append(args[1:], self)...)
	}
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

func TestExitsZeroOnTermAndInt(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := pauseCommand()
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// The warning about not being PID 1 is printed after the handlers are installed.
			waitFor(t, "pause to start", func() bool { return strings.Contains(stderr.String(), "first process") })
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("pause exited with %v after %v; stderr: %s", err, sig, stderr.String())
			}
			if !strings.Contains(stderr.String(), "Shutting down, got signal") {
				t.Fatalf("pause did not say why it stopped; stderr: %s", stderr.String())
			}
		})
	}
}

func TestPrintsVersion(t *testing.T) {
	cmd := pauseCommand()
	cmd.Args = append(cmd.Args, "-v")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(out)) != version {
		t.Fatalf("pause -v printed %q, want %q", out, version)
	}
}

// As the init process of a PID namespace, pause inherits orphans and must reap them when they exit.
func TestReapsOrphansAsInitOfAPIDNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test makes a PID namespace (unshare --pid) for pause to be init of")
	}
	for _, tool := range []string{"unshare", "nsenter", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (util-linux) on PATH: %v", tool, err)
		}
	}
	cmd := pauseCommand("unshare", "--pid", "--fork", "--kill-child")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pausePID int
	t.Cleanup(func() {
		// unshare ignores SIGTERM while it waits for its child: stop pause, and unshare follows.
		if pausePID != 0 {
			_ = syscall.Kill(pausePID, syscall.SIGTERM)
		} else {
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	waitFor(t, "pause to run under unshare", func() bool {
		children := childrenOf(t, cmd.Process.Pid)
		if len(children) == 1 {
			pausePID = children[0]
		}
		return pausePID != 0
	})
	// sh runs in pause's namespace, starts a sleep in the background and exits: the sleep is orphaned
	// and its new parent is pause. (Its output goes to /dev/null, or the pipe would keep nsenter's
	// output open until the sleep ends.)
	enter := exec.Command("nsenter", "--target", strconv.Itoa(pausePID), "--pid", "--",
		"sh", "-c", "sleep 1 >/dev/null 2>&1 & exit 0")
	if out, err := enter.CombinedOutput(); err != nil {
		t.Fatalf("nsenter: %v: %s", err, out)
	}
	var orphan int
	waitFor(t, "the orphaned sleep to be pause's child", func() bool {
		for _, pid := range childrenOf(t, pausePID) {
			if comm(pid) == "sleep" {
				orphan = pid
			}
		}
		return orphan != 0
	})
	waitFor(t, "pause to reap the sleep once it exits", func() bool {
		_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(orphan)))
		return errors.Is(err, os.ErrNotExist)
	})
	if zombies := zombieChildrenOf(t, pausePID); len(zombies) > 0 {
		t.Fatalf("pause left zombie children: %v", zombies)
	}
}

func waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procStatus returns the fields of /proc/<pid>/status, or nil when the process is gone.
func procStatus(pid int) map[string]string {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return nil
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if key, value, ok := strings.Cut(line, ":"); ok {
			fields[key] = strings.TrimSpace(value)
		}
	}
	return fields
}

func comm(pid int) string { return procStatus(pid)["Name"] }

func childrenOf(t *testing.T, parent int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var children []int
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		if procStatus(pid)["PPid"] == strconv.Itoa(parent) {
			children = append(children, pid)
		}
	}
	return children
}

func zombieChildrenOf(t *testing.T, parent int) []int {
	var zombies []int
	for _, pid := range childrenOf(t, parent) {
		if strings.HasPrefix(procStatus(pid)["State"], "Z") {
			zombies = append(zombies, pid)
		}
	}
	return zombies
}

// syncBuffer is a bytes.Buffer the process's output goroutine and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
