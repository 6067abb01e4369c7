package csidriver

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"k8s.io/klog/v2"
)

// The official CSI sanity suite (csi-test's pkg/sanity) against a running driver. Publishing is a real
// bind mount, so the suite needs root.
func TestCSISanity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: NodePublishVolume bind-mounts the volume")
	}
	dir := shortTempDir(t)
	driver := startDriver(t, Options{
		Name:     DefaultName,
		NodeID:   "sanity-node",
		DataDir:  filepath.Join(dir, "data"),
		Endpoint: "unix://" + filepath.Join(dir, "csi.sock"),
	})
	config := sanity.NewTestConfig()
	config.Address = "unix://" + driver.socket
	config.TargetPath = filepath.Join(dir, "target")
	config.StagingPath = filepath.Join(dir, "staging")
	config.TestVolumeSize = 64 << 20
	sanity.Test(t, config)
}

func startDriver(t *testing.T, opts Options) *Driver {
	t.Helper()
	if testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	} else {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// mount-utils logs through klog.
	klog.SetSlogLogger(opts.Logger)
	driver, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(driver.Stop)
	return driver
}
