package provider

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/otpd/otpd/delivery"
)

// named is a provider that reports its name through the error it returns.
func named(name string) delivery.Provider {
	return Func(func(context.Context, delivery.Outgoing) error { return errors.New(name) })
}

func providerName(p delivery.Provider) string {
	return p.Send(context.Background(), delivery.Outgoing{}).Error()
}

func TestRouterFor(t *testing.T) {
	byChannel := map[string]delivery.Provider{"email": named("smtp"), "sms": named("twilio")}
	byID := map[string]delivery.Provider{"gateway": named("webhook"), "twilio-eu": named("twilio-eu")}
	r := NewRouter(byChannel, byID)
	// The router keeps its own copies.
	delete(byChannel, "email")
	byID["late"] = named("late")

	tests := []struct {
		channel, id string
		want        string // provider name, or error fragment
		wantErr     bool
	}{
		{channel: "email", want: "smtp"},
		{channel: "sms", want: "twilio"},
		{channel: "sms", id: "twilio-eu", want: "twilio-eu"},
		{channel: "voice", id: "gateway", want: "webhook"},
		{channel: "voice", want: `no provider for channel "voice"`, wantErr: true},
		{channel: "sms", id: "nope", want: `unknown provider "nope"`, wantErr: true},
		{channel: "sms", id: "late", want: `unknown provider "late"`, wantErr: true},
	}
	for _, tt := range tests {
		p, err := r.For(tt.channel, tt.id)
		switch {
		case tt.wantErr:
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("For(%q, %q) err = %v, want %q", tt.channel, tt.id, err, tt.want)
			}
		case err != nil:
			t.Errorf("For(%q, %q): %v", tt.channel, tt.id, err)
		case providerName(p) != tt.want:
			t.Errorf("For(%q, %q) = %s, want %s", tt.channel, tt.id, providerName(p), tt.want)
		}
	}
}

func TestRouterSend(t *testing.T) {
	var got []string
	r := NewRouter(map[string]delivery.Provider{
		"sms": Func(func(_ context.Context, o delivery.Outgoing) error { got = append(got, o.ID); return nil }),
	}, nil)
	if err := r.Send(context.Background(), delivery.Outgoing{ID: "a", Channel: "sms"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "a" {
		t.Errorf("sent %v", got)
	}
	if err := r.Send(context.Background(), delivery.Outgoing{ID: "b", Channel: "fax"}); !delivery.IsPermanent(err) {
		t.Errorf("unknown channel: %v, want permanent", err)
	}
	if _, err := NewRouter(nil, nil).For("sms", ""); err == nil {
		t.Error("empty router found a provider")
	}
}

func TestNoop(t *testing.T) {
	var p delivery.Provider = Noop{}
	if err := p.Send(context.Background(), delivery.Outgoing{Channel: "sms"}); err != nil {
		t.Fatal(err)
	}
}
