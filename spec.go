// Package otpd holds what the binary embeds from the repository's root
// folders: the OpenAPI description generated into gen/openapiv2 (gen/ is
// wiped and rewritten by `make generate`, so the embedding lives here),
// with the paths otpd serves outside the gRPC gateway (openapi/) merged in.
package otpd

import (
	_ "embed"
	"encoding/json"
)

var (
	//go:embed gen/openapiv2/otpd.swagger.json
	generated []byte
	//go:embed openapi/delivery-status.json
	deliveryStatus []byte
)

// OpenAPI is gen/openapiv2/otpd.swagger.json with openapi/'s paths and
// tags, served at /openapi.json.
var OpenAPI = merge(generated, deliveryStatus)

// ExtraRoutes are the operations of openapi/ ("METHOD /path"): served by
// the REST handler's extra routes, not by the gateway.
var ExtraRoutes = []string{"POST /v1/delivery/status"}

// merge adds extra's paths and tags to doc. Both are embedded files, so
// a failure is a build mistake: it panics at start-up (and in every test).
func merge(doc, extra []byte) []byte {
	var d, e map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		panic("otpd: gen/openapiv2/otpd.swagger.json: " + err.Error())
	}
	if err := json.Unmarshal(extra, &e); err != nil {
		panic("otpd: openapi/: " + err.Error())
	}
	paths, _ := d["paths"].(map[string]any)
	for p, v := range e["paths"].(map[string]any) {
		paths[p] = v
	}
	tags, _ := d["tags"].([]any)
	d["tags"] = append(tags, e["tags"].([]any)...)
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		panic("otpd: merging the OpenAPI document: " + err.Error())
	}
	return out
}
