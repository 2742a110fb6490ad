package otpd_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/otpd/otpd"
)

// TestOpenAPILints checks /openapi.json with kin-openapi (pinned in
// go.mod): the OpenAPI 2 document loads, converts to OpenAPI 3 and
// validates (schemas, references, parameters, unique operation ids), and
// every operation has an operation id, a summary and a description (the
// rpc comments in proto/, through `make generate`), and declares its
// security and an error answer.
func TestOpenAPILints(t *testing.T) {
	var doc2 openapi2.T
	if err := json.Unmarshal(otpd.OpenAPI, &doc2); err != nil {
		t.Fatalf("not an OpenAPI 2 document: %v", err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		t.Fatalf("converting to OpenAPI 3: %v", err)
	}
	ctx := context.Background()
	if err := doc3.Validate(ctx); err != nil {
		t.Errorf("the document does not validate: %v", err)
	}
	// Round trip through the loader too: it resolves every $ref.
	b, err := json.Marshal(doc3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openapi3.NewLoader().LoadFromData(b); err != nil {
		t.Errorf("references do not resolve: %v", err)
	}

	ids := map[string]string{}
	n := 0
	for path, item := range doc2.Paths {
		for method, op := range item.Operations() {
			n++
			where := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %s also on %s", where, op.OperationID, other)
			}
			ids[op.OperationID] = where
			if strings.TrimSpace(op.Summary) == "" {
				t.Errorf("%s: no summary", where)
			}
			if len(strings.TrimSpace(op.Description)) < 20 {
				t.Errorf("%s: no description (%q)", where, op.Description)
			}
			if len(op.Summary) > 120 {
				t.Errorf("%s: summary longer than a line: %q", where, op.Summary)
			}
			if len(op.Tags) == 0 {
				t.Errorf("%s: no tag", where)
			}
			hasError := false
			for code := range op.Responses.Map() {
				hasError = hasError || strings.HasPrefix(code, "4") || code == "default"
			}
			if !hasError {
				t.Errorf("%s: no error response", where)
			}
		}
	}
	if n < 40 {
		t.Errorf("only %d operations", n)
	}
}
