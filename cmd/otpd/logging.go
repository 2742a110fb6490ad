package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"google.golang.org/grpc/grpclog"

	"github.com/otpd/otpd/tracing"
)

// The server and the worker write JSON lines only, on both streams: their
// own log (stderr), the log provider's lines (stdout), and what the
// libraries inside them would otherwise print as text (the standard log
// package, which net/http's servers use; grpc-go; go-redis;
// OpenTelemetry's exporter errors) goes through the same JSON handler.
// The operator tools (keygen, config check, ...) talk to people in text.

// newLogger is the server's logger: JSON, at level, with the trace and
// span ids of the request a line belongs to.
func newLogger(out io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(tracing.LogHandler(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level})))
}

// routeLibraryLogs sends the libraries' own log output through log.
func routeLibraryLogs(log *slog.Logger) {
	slog.SetDefault(log) // also the standard log package's output
	grpclog.SetLoggerV2(grpcLogger{log.With("component", "grpc")})
	redis.SetLogger(redisLogger{log.With("component", "redis")})
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("opentelemetry", "component", "otel", "error", err)
	}))
}

// fatalLine writes a failed start of the server or worker as one JSON
// line (the error text of an invalid configuration spans lines).
func fatalLine(out io.Writer, err error) {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	l := slog.New(slog.NewJSONHandler(out, nil))
	if len(lines) > 1 {
		l.Error("otpd cannot start", "error", lines[0], "problems", lines[1:])
		return
	}
	l.Error("otpd cannot start", "error", lines[0])
}

// servesJSON reports whether args run the server or the worker (their
// output is JSON); the operator tools print text.
func servesJSON(args []string) bool {
	return len(args) == 0 || args[0] == "worker"
}

// grpcLogger is grpc-go's logger on slog. grpc-go's info lines are
// connection chatter: debug level.
type grpcLogger struct{ log *slog.Logger }

func (g grpcLogger) Info(args ...any)                    { g.log.Debug(fmt.Sprint(args...)) }
func (g grpcLogger) Infoln(args ...any)                  { g.log.Debug(sprintln(args)) }
func (g grpcLogger) Infof(format string, args ...any)    { g.log.Debug(fmt.Sprintf(format, args...)) }
func (g grpcLogger) Warning(args ...any)                 { g.log.Warn(fmt.Sprint(args...)) }
func (g grpcLogger) Warningln(args ...any)               { g.log.Warn(sprintln(args)) }
func (g grpcLogger) Warningf(format string, args ...any) { g.log.Warn(fmt.Sprintf(format, args...)) }
func (g grpcLogger) Error(args ...any)                   { g.log.Error(fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any)                 { g.log.Error(sprintln(args)) }
func (g grpcLogger) Errorf(format string, args ...any)   { g.log.Error(fmt.Sprintf(format, args...)) }
func (g grpcLogger) Fatal(args ...any)                   { g.log.Error(fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any)                 { g.log.Error(sprintln(args)); os.Exit(1) }
func (g grpcLogger) Fatalf(format string, args ...any) {
	g.log.Error(fmt.Sprintf(format, args...))
	os.Exit(1)
}

// V reports whether verbosity level l is on: grpc-go's verbose logs
// (l > 0) are off.
func (g grpcLogger) V(l int) bool { return l <= 0 }

func sprintln(args []any) string { return strings.TrimSuffix(fmt.Sprintln(args...), "\n") }

// redisLogger is go-redis's logger on slog.
type redisLogger struct{ log *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}
