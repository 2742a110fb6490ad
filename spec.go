// Package otpd holds what the binary embeds from the repository's root
// folders: the OpenAPI description generated into gen/openapiv2 (gen/ is
// wiped and rewritten by `make generate`, so the embedding lives here).
package otpd

import _ "embed"

// OpenAPI is gen/openapiv2/otpd.swagger.json, served at /openapi.json.
//
//go:embed gen/openapiv2/otpd.swagger.json
var OpenAPI []byte
