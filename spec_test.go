package otpd_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/yaml"

	"github.com/otpd/otpd"
	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/gateway"
)

type swagger struct {
	Paths map[string]map[string]struct {
		OperationID string `json:"operationId"`
	} `json:"paths"`
}

// routes reads proto/otp/v1/http.yaml: "METHOD /path" of every rule, with
// path parameters written {name} in lowerCamelCase (as the spec has them).
func routes(t *testing.T) []string {
	b, err := os.ReadFile("proto/otp/v1/http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type binding map[string]any // get/post/… → path, body, additional_bindings
	var f struct {
		HTTP struct {
			Rules []binding `json:"rules"`
		} `json:"http"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	camel := regexp.MustCompile(`_([a-z])`)
	var out []string
	var add func(r binding)
	add = func(r binding) {
		for _, m := range []string{"get", "post", "put", "patch", "delete"} {
			if p, ok := r[m].(string); ok {
				p = camel.ReplaceAllStringFunc(p, func(s string) string { return strings.ToUpper(s[1:]) })
				out = append(out, strings.ToUpper(m)+" "+p)
			}
		}
		extra, _ := r["additional_bindings"].([]any)
		for _, b := range extra {
			if m, ok := b.(map[string]any); ok {
				add(m)
			}
		}
	}
	for _, r := range f.HTTP.Rules {
		add(r)
	}
	slices.Sort(out)
	return out
}

func specRoutes(t *testing.T) []string {
	var s swagger
	if err := json.Unmarshal(otpd.OpenAPI, &s); err != nil {
		t.Fatalf("the embedded OpenAPI spec is not JSON: %v", err)
	}
	var out []string
	for p, ops := range s.Paths {
		for m := range ops {
			out = append(out, strings.ToUpper(m)+" "+p)
		}
	}
	slices.Sort(out)
	return out
}

// TestOpenAPIMatchesGatewayRoutes: the served spec describes exactly the
// REST routes of proto/otp/v1/http.yaml (a stale gen/openapiv2 fails), and
// the gateway routes every operation the spec lists.
func TestOpenAPIMatchesGatewayRoutes(t *testing.T) {
	want, got := routes(t), specRoutes(t)
	if len(want) == 0 {
		t.Fatal("no rules in http.yaml")
	}
	want = append(want, otpd.ExtraRoutes...)
	slices.Sort(want)
	if !slices.Equal(want, got) {
		t.Fatalf("spec routes differ from http.yaml:\nhttp.yaml: %v\nspec:      %v", want, got)
	}
	// Every operation reaches a service (the stub answers Unimplemented);
	// an unrouted one would get the gateway's not-found or
	// method-not-allowed answer.
	h, err := gateway.New(context.Background(), gateway.Options{Conn: unimplemented{}})
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, r := range got {
		if slices.Contains(otpd.ExtraRoutes, r) {
			continue // served by the REST handler's extra routes (TestDeliveryStatusRoute)
		}
		method, path, _ := strings.Cut(r, " ")
		req := httptest.NewRequest(method, param.ReplaceAllString(path, "P2abc"), strings.NewReader("{}"))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var body gateway.Body
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if body.ErrorCode == apierr.ErrNotFound.Code || body.ErrorCode == apierr.ErrMethodNotAllowed.Code || w.Code == http.StatusNotFound {
			t.Errorf("%s: not routed by the gateway (%d %s)", r, w.Code, body.ErrorCode)
		}
	}
}

// unimplemented is a connection whose every call fails as Unimplemented.
type unimplemented struct{}

func (unimplemented) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	return status.Error(codes.Unimplemented, "stub")
}

func (unimplemented) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "stub")
}

// TestOpenAPIDescribesAuthAndErrors: the spec names the Authorization
// header (none for the JWKS), and every error answer of every operation is
// Descope's error body, not grpc-gateway's default rpcStatus.
func TestOpenAPIDescribesAuthAndErrors(t *testing.T) {
	var s struct {
		Security            []map[string][]string `json:"security"`
		SecurityDefinitions map[string]struct {
			Type, In, Name string
		} `json:"securityDefinitions"`
		Definitions map[string]struct {
			Properties map[string]any `json:"properties"`
		} `json:"definitions"`
		Paths map[string]map[string]struct {
			Security  *[]map[string][]string `json:"security"`
			Responses map[string]struct {
				Schema struct {
					Ref string `json:"$ref"`
				} `json:"schema"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(otpd.OpenAPI, &s); err != nil {
		t.Fatal(err)
	}
	if d := s.SecurityDefinitions["Bearer"]; d.Type != "apiKey" || d.In != "header" || d.Name != "Authorization" || len(s.Security) != 1 {
		t.Fatalf("security: %+v %+v", s.SecurityDefinitions, s.Security)
	}
	body := s.Definitions["v1ErrorBody"].Properties
	for _, f := range []string{"errorCode", "errorDescription", "errorMessage", "attemptsLeft", "retryAfter"} {
		if _, ok := body[f]; !ok {
			t.Fatalf("the error body lacks %s: %v", f, body)
		}
	}
	if _, ok := s.Definitions["rpcStatus"]; ok {
		t.Fatal("the spec still describes errors as rpcStatus")
	}
	for path, ops := range s.Paths {
		for m, op := range ops {
			for _, code := range []string{"400", "401", "429", "500", "503"} {
				if r, ok := op.Responses[code]; !ok || r.Schema.Ref != "#/definitions/v1ErrorBody" {
					t.Fatalf("%s %s: response %s is not the error body: %+v", m, path, code, op.Responses)
				}
			}
			if path == "/v2/keys/{projectId}" && (op.Security == nil || len(*op.Security) != 0) {
				t.Fatalf("the JWKS must need no authorization: %v", op.Security)
			}
		}
	}
}
