package render

import (
	"strings"
	"time"
)

// Data is what every template is executed with. The package documentation
// lists its fields for template authors.
type Data struct {
	// Code is the one-time code.
	Code string
	// CodeSpelled is Code with its characters separated by ", ", for voice.
	CodeSpelled string
	// ExpiresMinutes is the code lifetime rounded up to whole minutes (≥ 1).
	ExpiresMinutes int
	// ExpiresSeconds is the code lifetime rounded up to whole seconds (≥ 1).
	ExpiresSeconds int
	// Channel is email, sms, whatsapp or voice.
	Channel string
	// Purpose is signup, signin, signup-in or update.
	Purpose string
	// To is the address the message goes to.
	To string
	// ProductName is Options.ProductName.
	ProductName string
	// Locale is the locale of the template file being executed.
	Locale string
	// Options are the request's templateOptions; never nil.
	Options map[string]string
	// Security notices only (Purpose "contact-changed"; Code is empty):
	// Contact is "email" or "phone", what changed; NewAddress the new
	// address, masked; ChangedAt when, as "2006-01-02 15:04 UTC".
	Contact    string
	NewAddress string
	ChangedAt  string
}

// Option returns the template option key, or "" when it is not set.
func (d Data) Option(key string) string { return d.Options[key] }

// newData builds the template data for a message. lifetime must be > 0.
func newData(code, channel, purpose, to, product string, lifetime time.Duration, options map[string]string) Data {
	if options == nil {
		options = map[string]string{}
	}
	return Data{
		Code:           code,
		CodeSpelled:    spell(code),
		ExpiresMinutes: ceilUnits(lifetime, time.Minute),
		ExpiresSeconds: ceilUnits(lifetime, time.Second),
		Channel:        channel,
		Purpose:        purpose,
		To:             to,
		ProductName:    product,
		Options:        options,
	}
}

// ceilUnits is d in whole units, rounded up, and at least 1.
func ceilUnits(d, unit time.Duration) int {
	n := d / unit
	if d%unit > 0 {
		n++
	}
	return int(max(n, 1))
}

// spell separates the characters of code with ", ": "123" -> "1, 2, 3".
func spell(code string) string {
	var b strings.Builder
	for i, r := range []rune(code) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteRune(r)
	}
	return b.String()
}
