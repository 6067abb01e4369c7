package csidriver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

type identity struct {
	csi.UnimplementedIdentityServer
	d *Driver
}

func (i *identity) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: i.d.opts.Name, VendorVersion: Version}, nil
}

func (i *identity) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{{
		Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{
			Type: csi.PluginCapability_Service_CONTROLLER_SERVICE,
		}},
	}}}, nil
}

func (i *identity) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
}

// registration is the kubelet plugin-registration service (what node-driver-registrar serves): the
// kubelet finds <registration-dir>/<name>-reg.sock, asks GetInfo, connects to the CSI endpoint it
// names, and reports the outcome with NotifyRegistrationStatus.
type registration struct {
	registerapi.UnimplementedRegistrationServer
	d *Driver
}

func registerRegistration(server *grpc.Server, d *Driver) {
	registerapi.RegisterRegistrationServer(server, &registration{d: d})
}

func (r *registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              r.d.opts.Name,
		Endpoint:          r.d.socket,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *registration) NotifyRegistrationStatus(_ context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if st.PluginRegistered {
		r.d.log.Info("registered with the kubelet", "driver", r.d.opts.Name)
	} else {
		r.d.log.Error("the kubelet refused the registration", "driver", r.d.opts.Name, "error", st.Error)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}
