package server

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/otpd/otpd/middleware"
)

// healthMethods is the gRPC health service's method prefix.
var healthMethods = "/" + healthpb.Health_ServiceDesc.ServiceName + "/"

// apiServices are the services gRPC health reports on by name (besides
// the server as a whole, ""): every service registered on gs but health
// and reflection. Each follows the same Redis probe: they all need it.
func apiServices(gs *grpc.Server) []string {
	var names []string
	for name := range gs.GetServiceInfo() {
		if name == healthpb.Health_ServiceDesc.ServiceName || strings.HasPrefix(name, "grpc.reflection.") {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// setAll sets the status of the server and of every API service.
func (h *healthWatch) setAll(st healthpb.HealthCheckResponse_ServingStatus) {
	h.grpc.SetServingStatus("", st)
	for _, name := range h.services {
		h.grpc.SetServingStatus(name, st)
	}
}

// unaryChain routes health checks past the API chain: a probe every few
// seconds is not an API request, so it is neither logged, nor counted in
// otpd_requests_total, nor authenticated. They keep the decoder's
// refusals (message size).
func unaryChain(api grpc.UnaryServerInterceptor, decoder *middleware.Decoder) grpc.UnaryServerInterceptor {
	health := middleware.Chain(decoder.Refusals())
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if strings.HasPrefix(info.FullMethod, healthMethods) {
			return health(ctx, req, info, h)
		}
		return api(ctx, req, info, h)
	}
}
