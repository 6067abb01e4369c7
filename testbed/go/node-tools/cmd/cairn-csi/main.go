// Command cairn-csi is the testbed's CSI driver (see internal/csidriver): volumes are directories under
// --data-dir, snapshots are copies, publishing is a bind mount. With --registration-dir it registers
// itself with the kubelet, as node-driver-registrar would.
//
//	cairn-csi --endpoint unix:///run/cairn/csi.sock --node-id node-a --data-dir /var/lib/cairn-csi \
//	  [--driver-name csi.testbed.cairn.dev] [--registration-dir <kubelet root>/plugins_registry]
//
// It runs until SIGINT or SIGTERM, then stops serving and removes its sockets.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"cairn.dev/testbed/node-tools/internal/csidriver"
)

func main() {
	var opts csidriver.Options
	flag.StringVar(&opts.Endpoint, "endpoint", "", "the CSI socket, unix:///path/csi.sock (required)")
	flag.StringVar(&opts.Name, "driver-name", csidriver.DefaultName, "the driver's name")
	flag.StringVar(&opts.NodeID, "node-id", "", "the node id NodeGetInfo reports (required)")
	flag.StringVar(&opts.DataDir, "data-dir", "", "directory of volumes, snapshots and the driver's records (required)")
	flag.StringVar(&opts.RegistrationDir, "registration-dir", "",
		"the kubelet's plugin registration directory (<root-dir>/plugins_registry); empty: do not register")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments: %v", flag.Args()))
	}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	klog.SetSlogLogger(opts.Logger) // mount-utils logs through klog

	driver, err := csidriver.Start(opts)
	if err != nil {
		fail(err)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-signals:
		opts.Logger.Info("stopping", "signal", sig.String())
		driver.Stop()
	case err := <-driver.Done():
		driver.Stop()
		fail(fmt.Errorf("server stopped: %w", err))
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "cairn-csi: %v\n", err)
	os.Exit(1)
}
