// Package csidriver is the testbed's CSI driver: volumes are directories on the node, snapshots are
// copies of them, and publishing a volume bind-mounts its directory on the target path. It serves the
// CSI Identity, Controller and Node services on one socket and, when given the kubelet's plugin
// registration directory, registers itself with the kubelet (in place of node-driver-registrar).
//
// Every volume lives on the one node the driver runs on; the driver reports no topology, so it suits
// clusters of one node (the testbed's).
package csidriver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	mount "k8s.io/mount-utils"
)

// DefaultName is the driver's name unless told otherwise.
const DefaultName = "csi.testbed.cairn.dev"

// Version is the vendor version GetPluginInfo reports.
const Version = "1.0.0"

// Options configure a Driver.
type Options struct {
	// Name of the driver (a CSIDriver object's name), e.g. csi.testbed.cairn.dev.
	Name string
	// NodeID reported by NodeGetInfo.
	NodeID string
	// DataDir holds volumes, snapshots and the driver's records.
	DataDir string
	// Endpoint the CSI services listen on: unix:///path/csi.sock (or a plain path).
	Endpoint string
	// RegistrationDir is the kubelet's plugin registration directory (<root-dir>/plugins_registry);
	// empty means do not register with a kubelet.
	RegistrationDir string
	// Logger for requests and registration; slog.Default() when nil.
	Logger *slog.Logger
}

// Driver is a running driver.
type Driver struct {
	opts    Options
	log     *slog.Logger
	mounter mount.Interface

	mu    sync.Mutex // serializes every call that reads or changes the store (see lock)
	store *store

	socket, regSocket string
	servers           []*grpc.Server
	done              chan error
}

// Start validates the options, loads the driver's records, and serves on the sockets.
func Start(opts Options) (*Driver, error) {
	if opts.Name == "" {
		return nil, errors.New("driver name is required")
	}
	if opts.NodeID == "" {
		return nil, errors.New("node id is required")
	}
	if opts.DataDir == "" {
		return nil, errors.New("data directory is required")
	}
	socket, err := socketPath(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	st, err := openStore(opts.DataDir)
	if err != nil {
		return nil, err
	}
	d := &Driver{opts: opts, log: logger, mounter: mount.New(""), store: st, socket: socket, done: make(chan error, 2)}

	csiServer := grpc.NewServer(grpc.UnaryInterceptor(d.logCall))
	csi.RegisterIdentityServer(csiServer, &identity{d: d})
	csi.RegisterControllerServer(csiServer, &controller{d: d})
	csi.RegisterNodeServer(csiServer, &node{d: d})
	if err := d.serve(csiServer, socket); err != nil {
		return nil, err
	}
	logger.Info("serving CSI", "driver", opts.Name, "endpoint", socket, "node", opts.NodeID,
		"volumes", len(st.volumes), "snapshots", len(st.snapshots))

	if opts.RegistrationDir != "" {
		// The kubelet watches the directory and calls GetInfo as soon as the socket appears; the CSI
		// socket already answers by then.
		d.regSocket = filepath.Join(opts.RegistrationDir, opts.Name+"-reg.sock")
		if err := checkSocketPathLength(d.regSocket); err != nil {
			d.Stop()
			return nil, fmt.Errorf("registration directory: %w", err)
		}
		regServer := grpc.NewServer()
		registerRegistration(regServer, d)
		if err := d.serve(regServer, d.regSocket); err != nil {
			d.Stop()
			return nil, err
		}
		logger.Info("serving kubelet plugin registration", "socket", d.regSocket)
	}
	return d, nil
}

func (d *Driver) serve(server *grpc.Server, socket string) error {
	if err := os.MkdirAll(filepath.Dir(socket), 0o750); err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	// A socket left by a driver that did not stop cleanly.
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("stale socket: %w", err)
	}
	listener, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	d.servers = append(d.servers, server)
	go func() { d.done <- server.Serve(listener) }()
	return nil
}

// Done reports the first error of a server that stopped by itself.
func (d *Driver) Done() <-chan error { return d.done }

// Stop stops the registration server first (the kubelet then deregisters the driver), then the CSI
// server once its calls in flight have returned, and removes the sockets.
func (d *Driver) Stop() {
	for i := len(d.servers) - 1; i >= 0; i-- {
		d.servers[i].GracefulStop()
	}
	for _, socket := range []string{d.regSocket, d.socket} {
		if socket != "" {
			_ = os.Remove(socket)
		}
	}
}

// socketPath accepts unix:///path, unix:/path and a plain path.
func socketPath(endpoint string) (string, error) {
	if endpoint == "" {
		return "", errors.New("endpoint is required (unix:///path/csi.sock)")
	}
	path := endpoint
	if rest, ok := strings.CutPrefix(endpoint, "unix://"); ok {
		path = rest
	} else if rest, ok := strings.CutPrefix(endpoint, "unix:"); ok {
		path = rest
	} else if strings.Contains(endpoint, "://") {
		return "", fmt.Errorf("endpoint %q: only unix sockets are supported", endpoint)
	}
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("endpoint %q: the socket path must be absolute", endpoint)
	}
	if err := checkSocketPathLength(path); err != nil {
		return "", fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	return path, nil
}

// maxSocketPath is the longest path a unix socket address holds (sun_path is 108 bytes on Linux,
// with the terminating NUL).
const maxSocketPath = 107

func checkSocketPathLength(path string) error {
	if len(path) > maxSocketPath {
		return fmt.Errorf("socket path %s is %d bytes long, unix sockets allow at most %d", path, len(path), maxSocketPath)
	}
	return nil
}

// logCall logs every call that changes something, and every failure.
// lock serializes a call with every other call on the data directory: this driver's (mu) and those of
// other drivers sharing the directory (the testbed's clusters reach one storage system, as two clusters
// in one cloud account do), through an flock on <data-dir>/lock. The records are read again under it, so
// a driver sees the volumes and snapshots another one made. It returns the unlock.
func (d *Driver) lock() (func(), error) {
	d.mu.Lock()
	file, err := os.OpenFile(filepath.Join(d.opts.DataDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		d.mu.Unlock()
		return nil, status.Errorf(codes.Internal, "data directory lock: %v", err)
	}
	if err := syscall.Flock(int(file.Fd()), syscall.LOCK_EX); err != nil {
		_ = file.Close()
		d.mu.Unlock()
		return nil, status.Errorf(codes.Internal, "data directory lock: %v", err)
	}
	if err := d.store.reload(); err != nil {
		_ = file.Close()
		d.mu.Unlock()
		return nil, status.Errorf(codes.Internal, "data directory: %v", err)
	}
	return func() {
		_ = file.Close() // closing the file releases the flock
		d.mu.Unlock()
	}, nil
}

func (d *Driver) logCall(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
	quiet := strings.HasPrefix(method, "Get") || strings.HasPrefix(method, "List") ||
		strings.HasPrefix(method, "Probe") || strings.HasSuffix(method, "GetCapabilities") || method == "NodeGetInfo"
	switch {
	case err != nil:
		d.log.Warn("call failed", append([]any{"method", method, "code", status.Code(err).String(),
			"error", status.Convert(err).Message()}, requestFields(req)...)...)
	case !quiet:
		d.log.Info("call", append([]any{"method", method}, requestFields(req)...)...)
	}
	return resp, err
}

// requestFields names what a request is about: names, ids and paths, never its secrets or parameters.
func requestFields(req any) []any {
	var fields []any
	if r, ok := req.(interface{ GetName() string }); ok && r.GetName() != "" {
		fields = append(fields, "name", r.GetName())
	}
	if r, ok := req.(interface{ GetVolumeId() string }); ok && r.GetVolumeId() != "" {
		fields = append(fields, "volume", r.GetVolumeId())
	}
	if r, ok := req.(interface{ GetSourceVolumeId() string }); ok && r.GetSourceVolumeId() != "" {
		fields = append(fields, "sourceVolume", r.GetSourceVolumeId())
	}
	if r, ok := req.(interface{ GetSnapshotId() string }); ok && r.GetSnapshotId() != "" {
		fields = append(fields, "snapshot", r.GetSnapshotId())
	}
	if r, ok := req.(interface{ GetTargetPath() string }); ok && r.GetTargetPath() != "" {
		fields = append(fields, "targetPath", r.GetTargetPath())
	}
	return fields
}
