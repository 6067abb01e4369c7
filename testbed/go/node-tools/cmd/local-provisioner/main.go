// Command local-provisioner provisions `local` PersistentVolumes on this node, one directory per claim
// (see internal/localprovisioner).
//
//	local-provisioner --kubeconfig <file> --node-name node-a --base-dir /var/lib/local-volumes \
//	  [--provisioner-name testbed.cairn.dev/local]
//
// Its StorageClass uses volumeBindingMode WaitForFirstConsumer, so that the scheduler picks the node
// (annotation volume.kubernetes.io/selected-node) before the volume is made there. It needs to get,
// list and watch PersistentVolumeClaims, PersistentVolumes and StorageClasses, to create and delete
// PersistentVolumes, and to create Events. It runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"cairn.dev/testbed/node-tools/internal/localprovisioner"
)

func main() {
	var opts localprovisioner.Options
	var kubeconfig string
	flag.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then the in-cluster configuration)")
	flag.StringVar(&opts.ProvisionerName, "provisioner-name", "testbed.cairn.dev/local", "the StorageClass provisioner served")
	flag.StringVar(&opts.NodeName, "node-name", "", "this node's name (required)")
	flag.StringVar(&opts.BaseDir, "base-dir", "", "directory the volume directories are made in (required)")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments: %v", flag.Args()))
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	klog.SetSlogLogger(logger) // client-go logs through klog

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		fail(fmt.Errorf("kubeconfig: %w", err))
	}
	config.UserAgent = "local-provisioner/" + opts.NodeName
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		fail(err)
	}
	controller, err := localprovisioner.New(client, opts, logger)
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := controller.Run(ctx, 2); err != nil {
		fail(err)
	}
	logger.Info("stopped")
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "local-provisioner: %v\n", err)
	os.Exit(1)
}
