package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// attack is one flood, run by its own loopback address.
type attack struct {
	name, from, what string
	run              func(ctx context.Context, t *target, a *attackStats)
}

// attackStats count what one attack did and how otpd answered.
type attackStats struct {
	attack
	conns   atomic.Int64 // connections opened
	dropped atomic.Int64 // connections otpd closed
	sent    atomic.Int64 // streams, requests or calls sent
	refused atomic.Int64 // calls refused (RESOURCE_EXHAUSTED, 503, 429)
}

var attacks = []attack{
	{"streams", "127.0.0.2", "gRPC stream flood: 16 connections × 100 streams of headers only, reopened as they end", streamFlood},
	{"tinyframes", "127.0.0.3", "partial gRPC messages in 1-byte DATA frames: 16 connections × 100 streams announcing 60 KB", tinyFrames},
	{"grpcheaders", "127.0.0.4", "gRPC header flood: 16 connections × 100 streams of 30 KB metadata (CONTINUATION frames), no message", grpcHeaders},
	{"restbodies", "127.0.0.5", "partial REST bodies: 64 connections each sending 59 KB of a 60 KB body, then nothing", restBodies},
	{"slowloris", "127.0.0.6", "slowloris: 64 REST connections sending one header line a second, never ending", slowloris},
	{"restheaders", "127.0.0.7", "REST header flood: 64 connections each sending 200 KB of headers, never ending", restHeaders},
	{"refresh", "127.0.0.8", "refresh storm: 16 workers calling Refresh back to back with a valid refresh token", refreshStorm},
	{"start", "127.0.0.9", "start flood: 16 workers calling SignUpOrIn back to back for new login ids", startFlood},
}

type running struct {
	all []*attackStats
	wg  sync.WaitGroup
}

// count is one attack's counts, as the attackers' process reports them.
type count struct {
	Name, From, What              string
	Conns, Dropped, Sent, Refused int64
}

// attackerMain runs the attacks until ctx ends, then prints their counts.
func attackerMain(ctx context.Context, t *target, which string) {
	r := startAttacks(ctx, t, which)
	r.wg.Wait()
	var out []count
	for _, s := range r.all {
		out = append(out, count{s.name, s.from, s.what, s.conns.Load(), s.dropped.Load(), s.sent.Load(), s.refused.Load()})
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

// attackers is the attackers' process: nice 19, so that the attackers'
// own CPU (which a real attacker spends on its own machines) does not
// come out of otpd's share of this machine's cores.
type attackers struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func startAttackers(ctx context.Context, t *target, which string) (*attackers, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	a := &attackers{}
	a.cmd = exec.Command("nice", "-n", "19", self, "-attacker", "-attacks", which, "-grpc", t.grpc, "-http", t.http, "-project", t.project)
	a.cmd.Stdout, a.cmd.Stderr = &a.out, os.Stderr
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		<-ctx.Done()
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
	}()
	return a, nil
}

// wait waits for the attackers' process to stop and returns its counts.
func (a *attackers) wait() ([]count, error) {
	if err := a.cmd.Wait(); err != nil {
		return nil, fmt.Errorf("attackers: %w", err)
	}
	var out []count
	if err := json.Unmarshal(a.out.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("attackers' counts: %w (%q)", err, a.out.String())
	}
	return out, nil
}

func startAttacks(ctx context.Context, t *target, which string) *running {
	r := &running{}
	for _, a := range attacks {
		if which != "all" && !slices.Contains(strings.Split(which, ","), a.name) {
			continue
		}
		s := &attackStats{attack: a}
		r.all = append(r.all, s)
		r.wg.Go(func() { a.run(ctx, t, s) })
	}
	return r
}

func dialFrom(ctx context.Context, from, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

// repeat runs n copies of f until ctx ends, pausing briefly between runs
// (a copy returns when otpd closed its connection).
func repeat(ctx context.Context, n int, f func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				f()
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	wg.Wait()
}
