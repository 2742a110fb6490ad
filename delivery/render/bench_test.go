package render

import (
	"testing"
	"time"

	"github.com/otpd/otpd/delivery"
)

func BenchmarkRenderEmail(b *testing.B) {
	r, err := New(Options{ProductName: "Acme"})
	if err != nil {
		b.Fatal(err)
	}
	m := delivery.Message{Code: "123456", Channel: "email", Purpose: "signin", Locale: "fr", To: "a@example.com"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(m, 5*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderSMSLocale: what a region in the locale costs (the chain
// asks golang.org/x/text/language for the region's script, "zh-TW" ->
// "zh-hant").
func BenchmarkRenderSMSLocale(b *testing.B) {
	r, err := New(Options{ProductName: "Acme"})
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range []string{"fr", "fr-CA", "zh-TW"} {
		b.Run(l, func(b *testing.B) {
			m := delivery.Message{Code: "123456", Channel: "sms", Purpose: "signin", Locale: l, To: "+14155550123"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Render(m, 5*time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
