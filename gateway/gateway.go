// Package gateway is otpd's REST face: grpc-gateway routes on Descope's
// paths, calling the gRPC services in-process (package inproc) so REST and
// gRPC share one interceptor chain. It writes Descope's error body
// ({"errorCode","errorDescription","errorMessage"}) with the status from
// apierr, Retry-After when the error carries one, refuses paths a proxy could read
// differently (percent-encoding, empty or dot segments; the Go SDK's
// leading double slash is tolerated), and answers CORS for browser clients.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/otpd/otpd/apierr"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// MaxBodyBytes bounds a request body; larger bodies are refused (E011001).
const MaxBodyBytes = 64 << 10

// MaxHeaderBytes bounds a request's line and headers; larger ones are
// refused with 431 E011431 in Descope's shape. The http.Server's own limit
// (which answers in plain text) must be larger: ServerMaxHeaderBytes.
const MaxHeaderBytes = 32 << 10

// ServerMaxHeaderBytes is the http.Server's MaxHeaderBytes: headers up to
// it are read so that MaxHeaderBytes can refuse them in Descope's shape;
// beyond it net/http answers a plain-text 431 before any handler runs.
const ServerMaxHeaderBytes = 256 << 10

// Options configure the REST handler.
type Options struct {
	// Conn reaches the services, normally an *inproc.Channel.
	Conn grpc.ClientConnInterface
	// Extra serves non-API paths (health, metrics) ahead of the API.
	Extra map[string]http.Handler
	// CORSOrigins are the browser origins allowed to call with
	// credentials; "*" allows any. Empty: no CORS headers.
	CORSOrigins []string
	// NoCORS are path prefixes that never get CORS headers, whatever
	// CORSOrigins allows (the development console: a page on any site must
	// not read its codes).
	NoCORS []string
	// Rejected, when set, hears about requests refused before they reach
	// the RPC chain (unparseable bodies, unknown paths), so they are
	// logged and counted like every other call.
	Rejected func(r *http.Request, e *apierr.Error)
}

// New returns the REST handler.
func New(ctx context.Context, o Options) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &bodyJSON{JSONPb: runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		}}),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithErrorHandler(errorHandler(o.Rejected)),
		runtime.WithRoutingErrorHandler(routingErrorHandler(o.Rejected)),
	)
	for _, reg := range []func(context.Context, *runtime.ServeMux, grpc.ClientConnInterface) error{
		func(ctx context.Context, m *runtime.ServeMux, c grpc.ClientConnInterface) error {
			return otpv1.RegisterOtpEmailHandlerClient(ctx, m, otpv1.NewOtpEmailClient(c))
		},
		func(ctx context.Context, m *runtime.ServeMux, c grpc.ClientConnInterface) error {
			return otpv1.RegisterOtpSmsHandlerClient(ctx, m, otpv1.NewOtpSmsClient(c))
		},
		func(ctx context.Context, m *runtime.ServeMux, c grpc.ClientConnInterface) error {
			return otpv1.RegisterOtpVoiceHandlerClient(ctx, m, otpv1.NewOtpVoiceClient(c))
		},
		func(ctx context.Context, m *runtime.ServeMux, c grpc.ClientConnInterface) error {
			return otpv1.RegisterOtpWhatsappHandlerClient(ctx, m, otpv1.NewOtpWhatsappClient(c))
		},
		func(ctx context.Context, m *runtime.ServeMux, c grpc.ClientConnInterface) error {
			return otpv1.RegisterSessionHandlerClient(ctx, m, otpv1.NewSessionClient(c))
		},
		func(ctx context.Context, m *runtime.ServeMux, c grpc.ClientConnInterface) error {
			return otpv1.RegisterManagementHandlerClient(ctx, m, otpv1.NewManagementClient(c))
		},
	} {
		if err := reg(ctx, mux, o.Conn); err != nil {
			return nil, err
		}
	}
	var api http.Handler = mux
	// The path is checked first: every later step (CORS exemptions, the
	// extra routes, the API) sees only canonical paths.
	return canonicalPath(o.Rejected, cors(o.CORSOrigins, o.NoCORS, limitHeaders(o.Rejected, withPeer(limitBody(route(api, o.Extra)))))), nil
}

// bodyJSON is grpc-gateway's JSONPb with a request decoder that parses the
// body once: JSONPb's own decoder scans it with encoding/json into a raw
// message and then parses it again with protojson.
type bodyJSON struct{ runtime.JSONPb }

// NewDecoder reads the (size-limited) body and unmarshals it with protojson.
// An empty body is io.EOF, which the generated handlers accept (the Go SDK
// sends none on refresh and logout). A field the message does not declare
// refuses the request unless its value is empty (see fields.go).
func (m *bodyJSON) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		msg, ok := v.(proto.Message)
		if !ok {
			return m.JSONPb.NewDecoder(r).Decode(v)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return io.EOF
		}
		// The common case, every field declared, parses once.
		if protojson.Unmarshal(b, msg) == nil {
			return nil
		}
		if fields := unsupportedFields(b, msg.ProtoReflect().Descriptor()); len(fields) > 0 {
			e := refusal(fields)
			if rb, ok := r.(*refusable); ok {
				rb.refused = e
			}
			return e
		}
		return m.UnmarshalOptions.Unmarshal(b, msg)
	})
}

// outgoingHeader passes Set-Cookie (cookie mode) through as itself; other
// response metadata keeps grpc-gateway's Grpc-Metadata- prefix.
func outgoingHeader(key string) (string, bool) {
	if strings.EqualFold(key, "set-cookie") {
		return "Set-Cookie", true
	}
	return runtime.MetadataHeaderPrefix + key, true
}

// incomingHeader forwards X-Real-IP (honoured only from trusted proxies)
// and grpc-gateway's permanent headers (Cookie as grpcgateway-cookie). It
// drops grpc-gateway's Grpc-Metadata-* pass-through: a REST client must
// not set gRPC metadata, which the chain would read as if a trusted gRPC
// caller had sent it (x-otpd-client-ip, x-real-ip, authorization).
func incomingHeader(key string) (string, bool) {
	switch {
	case strings.EqualFold(key, "X-Real-Ip"):
		return "x-real-ip", true
	case len(key) >= len(runtime.MetadataHeaderPrefix) &&
		strings.EqualFold(key[:len(runtime.MetadataHeaderPrefix)], runtime.MetadataHeaderPrefix):
		return "", false
	}
	return runtime.DefaultHeaderMatcher(key)
}

// Body is Descope's error body.
type Body struct {
	ErrorCode        string `json:"errorCode"`
	ErrorDescription string `json:"errorDescription"`
	ErrorMessage     string `json:"errorMessage"`
	// AttemptsLeft (otpd's addition) accompanies a wrong code.
	AttemptsLeft *int `json:"attemptsLeft,omitempty"`
	// RetryAfter (otpd's addition) repeats the Retry-After header, in seconds.
	RetryAfter int `json:"retryAfter,omitempty"`
}

// WriteError writes e in Descope's shape.
func WriteError(w http.ResponseWriter, e *apierr.Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfterSeconds > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfterSeconds))
	}
	w.WriteHeader(e.HTTP)
	_ = json.NewEncoder(w).Encode(Body{e.Code, e.Description, e.Message, e.AttemptsLeft, e.RetryAfterSeconds})
}

func errorHandler(rejected func(*http.Request, *apierr.Error)) runtime.ErrorHandlerFunc {
	return func(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		st := status.Convert(err)
		e := apierr.FromStatus(st)
		if refused := refusedBy(r.Body); refused != nil {
			e = refused
		}
		if rejected != nil && !apierr.HasInfo(st) {
			// The chain marks every error it returns; this one came from
			// the gateway itself (e.g. a body that is not JSON).
			rejected(r, e)
		}
		WriteError(w, e)
	}
}

func routingErrorHandler(rejected func(*http.Request, *apierr.Error)) runtime.RoutingErrorHandlerFunc {
	return func(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
		e := apierr.ErrBadRequest
		switch code {
		case http.StatusMethodNotAllowed:
			e = apierr.ErrMethodNotAllowed
		case http.StatusNotFound:
			e = apierr.ErrNotFound
		}
		if rejected != nil {
			rejected(r, e)
		}
		WriteError(w, e)
	}
}

// route sends the extra paths to their handlers, the rest to the API.
func route(api http.Handler, extra map[string]http.Handler) http.Handler {
	if len(extra) == 0 {
		return api
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := extra[r.URL.Path]; ok {
			h.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// canonicalPath refuses (400) a path that a proxy in front of otpd could
// read differently from how otpd routes it: one with percent-encoding
// (`/v1%2Fmgmt%2Fuser%2Fcreate`), an empty segment (`/v1//mgmt/...`) or a
// dot segment (`/v1/auth/../mgmt/...`). A proxy rule denying /v1/mgmt/
// cannot be walked around: whatever otpd routes, it routes by the bytes
// the proxy saw. No path otpd serves needs any of these (ids in paths are
// letters, digits, '_' and '-'). Leading slashes are the one tolerance:
// the Go SDK builds "//v1/..." from a base URL with a trailing slash, so
// they collapse to one, except on the management API: a proxy that does
// not merge slashes (Envoy's default, HAProxy's path_beg) does not see
// "//v1/mgmt/user/create" under a /v1/mgmt/ rule, and a management client
// is a back end whose base URL its operator fixes. A trailing slash is
// kept (/dev/).
func canonicalPath(rejected func(*http.Request, *apierr.Error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := canonical(r.URL)
		if !ok {
			e := apierr.ErrBadRequest.With("The request path must not contain percent-encoding, empty segments or dot segments " +
				"(on the management API, not even a leading '//': remove the trailing '/' of the client's base URL)")
			if rejected != nil {
				rejected(r, e)
			}
			WriteError(w, e)
			return
		}
		if p != r.URL.Path {
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = p, ""
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// canonical returns u's path with leading slashes collapsed to one, and
// false if the path is not canonical (see canonicalPath).
func canonical(u *url.URL) (string, bool) {
	if u.Opaque != "" || strings.Contains(u.RawPath, "%") || strings.Contains(u.EscapedPath(), "%") {
		return "", false
	}
	p := u.Path
	if !strings.HasPrefix(p, "/") {
		return p, p == "*" // OPTIONS * (answered by the router as unknown)
	}
	p = "/" + strings.TrimLeft(p, "/")
	if p != u.Path && underManagement(p) {
		return "", false
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if (s == "" && i != len(segs)-1) || s == "." || s == ".." {
			return "", false
		}
	}
	return p, true
}

// managementPrefixes are the management API's paths (Descope's /v1/mgmt/
// and /v2/mgmt/): what a proxy rule is most likely to deny.
var managementPrefixes = []string{"/v1/mgmt/", "/v2/mgmt/"}

func underManagement(p string) bool {
	for _, m := range managementPrefixes {
		if strings.HasPrefix(p, m) || p+"/" == m {
			return true
		}
	}
	return false
}

// withPeer puts the HTTP client's address in the context as the gRPC peer,
// so interceptors see REST and gRPC callers alike.
func withPeer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if addr, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
			r = r.WithContext(peer.NewContext(r.Context(), &peer.Peer{Addr: addr}))
		}
		next.ServeHTTP(w, r)
	})
}

// limitHeaders refuses a request whose line and headers, counted as on
// the wire, exceed MaxHeaderBytes.
func limitHeaders(rejected func(*http.Request, *apierr.Error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len("Host: \r\n") + len(r.Host)
		for k, vs := range r.Header {
			for _, v := range vs {
				n += len(k) + len(v) + 4
			}
		}
		if n > MaxHeaderBytes {
			e := apierr.ErrHeadersTooLarge.With("The request headers are larger than %d bytes", MaxHeaderBytes)
			if rejected != nil {
				rejected(r, e)
			}
			WriteError(w, e)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			WriteError(w, apierr.ErrBadRequest.With("The request body is larger than %d bytes", MaxBodyBytes))
			return
		}
		r.Body = &refusable{ReadCloser: http.MaxBytesReader(w, r.Body, MaxBodyBytes)}
		next.ServeHTTP(w, r)
	})
}

// corsHeaders are the request headers a preflight always allows: those
// Descope's SDKs send, including the device tokens the web SDK adds when a
// page has them in localStorage. Requested headers beyond these are
// echoed (see allowHeaders).
const corsHeaders = "Authorization, Content-Type, X-Descope-Sdk-Name, X-Descope-Sdk-Version, " +
	"X-Descope-Sdk-Session-Id, X-Descope-Project-Id, X-Descope-Refresh-Cookie-Name, " +
	"X-Descope-Sdk-Node-Version, X-Descope-Sdk-Go-Version, X-Descope-Sdk-Python-Version, " +
	"X-Descope-Sdk-Sha, X-Descope-Sdk-Uuid, X-Descope-License, X-External-Rid, " +
	"X-Descope-Trusted-Device-Token, X-Descope-Known-Device-Token"

// Bounds on the echoed Access-Control-Request-Headers.
const (
	maxRequestedHeaders    = 64
	maxRequestedHeaderName = 128
)

// allowHeaders is corsHeaders plus every header name the preflight asks
// for that is a valid HTTP token (at most maxRequestedHeaders names of
// maxRequestedHeaderName bytes): an allowed origin is trusted to call with
// whatever headers its SDK version sends, and a header otpd does not read
// changes nothing.
func allowHeaders(requested []string) string {
	var out strings.Builder
	out.WriteString(corsHeaders)
	seen := make(map[string]bool, maxRequestedHeaders)
	n := 0
	for _, line := range requested {
		for name := range strings.SplitSeq(line, ",") {
			name = strings.TrimSpace(name)
			if name == "" || len(name) > maxRequestedHeaderName || !httpguts.ValidHeaderFieldName(name) {
				continue
			}
			if n++; n > maxRequestedHeaders {
				return out.String()
			}
			key := strings.ToLower(name)
			if !seen[key] && !corsHeaderSet[key] {
				seen[key] = true
				out.WriteString(", ")
				out.WriteString(name)
			}
		}
	}
	return out.String()
}

// corsHeaderSet is corsHeaders' names, lower-cased.
var corsHeaderSet = func() map[string]bool {
	m := map[string]bool{}
	for name := range strings.SplitSeq(corsHeaders, ",") {
		m[strings.ToLower(strings.TrimSpace(name))] = true
	}
	return m
}()

// cors lets browser clients on allowed origins (Descope's web SDK uses
// credentials: 'include') call otpd: it echoes an allowed Origin and allows
// the headers the SDKs send. Every response says Vary: Origin, so a cache
// never serves one origin's answer to another.
func cors(allowed, except []string, next http.Handler) http.Handler {
	anyOrigin := slices.Contains(allowed, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		for _, p := range except {
			if strings.HasPrefix(r.URL.Path, p) || r.URL.Path+"/" == p {
				next.ServeHTTP(w, r)
				return
			}
		}
		origin := r.Header.Get("Origin")
		if origin != "" && (anyOrigin || slices.Contains(allowed, origin)) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
				h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", allowHeaders(r.Header.Values("Access-Control-Request-Headers")))
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Expose-Headers", "Retry-After")
		}
		next.ServeHTTP(w, r)
	})
}
