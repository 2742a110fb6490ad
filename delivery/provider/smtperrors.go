package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"

	gomail "github.com/wneessen/go-mail"
	gomailsmtp "github.com/wneessen/go-mail/smtp"

	"github.com/otpd/otpd/delivery"
)

// classifySMTP turns a go-mail error into a transient or permanent error
// whose text holds no recipient (go-mail's and the server's texts may).
func classifySMTP(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return &cleanError{msg: "smtp: " + cerr.Error(), cause: errors.Join(cerr, err)}
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		msg := "smtp: " + se.Reason.String()
		if code := se.ErrorCode(); code != 0 {
			msg += ": server replied " + strconv.Itoa(code)
			if esc := se.EnhancedStatusCode(); esc != "" {
				msg += " " + esc
			}
		}
		ce := &cleanError{msg: msg, cause: err}
		switch {
		case se.IsTemp():
			return ce
		case se.ErrorCode() >= 500,
			se.Reason == gomail.ErrGetSender, se.Reason == gomail.ErrGetRcpts, se.Reason == gomail.ErrNoUnencoded:
			return delivery.Permanent(ce)
		default: // connection lost mid-transaction, I/O errors
			return ce
		}
	}

	// Connecting, EHLO, STARTTLS and AUTH.
	stage := "session setup"
	if strings.Contains(err.Error(), "SMTP AUTH failed") {
		stage = "authentication"
	}
	var tpe *textproto.Error
	if errors.As(err, &tpe) {
		msg := fmt.Sprintf("smtp: %s: server replied %d", stage, tpe.Code)
		if f := strings.Fields(tpe.Msg); len(f) > 0 && enhancedCode(f[0]) {
			msg += " " + f[0]
		}
		ce := &cleanError{msg: msg, cause: err}
		if tpe.Code >= 500 {
			return delivery.Permanent(ce)
		}
		return ce
	}
	if msg, ok := tlsErrText(err); ok {
		return &cleanError{msg: "smtp: TLS: " + msg, cause: err}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &cleanError{msg: "smtp: connection: " + netErrText(err), cause: err}
	}
	// go-mail reports a server lacking STARTTLS (when required) or any
	// usable AUTH mechanism as "... does not support ...": configuration
	// mismatches that retrying will not fix.
	if isUnsupported(err) {
		return delivery.Permanent(&cleanError{msg: "smtp: " + stage + ": " + unsupportedText(err), cause: err})
	}
	// Before MAIL FROM the recipient is not known to go-mail, and server
	// replies were handled above: the text is safe to show.
	return &cleanError{msg: "smtp: " + stage + ": " + err.Error(), cause: err}
}

// tlsErrText describes a TLS handshake or certificate failure. They are
// transient like other connection failures: an expired or replaced
// certificate gets fixed, and the code expires anyway.
func tlsErrText(err error) (string, bool) {
	var cve *tls.CertificateVerificationError
	var rhe tls.RecordHeaderError
	var ae tls.AlertError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	switch {
	case errors.As(err, &cve):
		return "certificate verification failed: " + cve.Err.Error(), true
	case errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie):
		return "certificate verification failed", true
	case errors.As(err, &rhe):
		return "server did not answer with TLS (implicit TLS on a STARTTLS or plain port?)", true
	case errors.As(err, &ae):
		return "handshake failed: " + ae.Error(), true
	}
	return "", false
}

// enhancedCode reports whether s looks like an RFC 3463 status ("5.7.8").
func enhancedCode(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

func isUnsupported(err error) bool {
	return errors.Is(err, gomail.ErrNoSupportedAuthDiscovered) ||
		errors.Is(err, gomail.ErrPlainAuthNotSupported) ||
		errors.Is(err, gomail.ErrLoginAuthNotSupported) ||
		errors.Is(err, gomailsmtp.ErrUnencrypted) ||
		strings.Contains(err.Error(), "does not support")
}

func unsupportedText(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "STARTTLS"):
		return "server does not offer STARTTLS"
	case errors.Is(err, gomailsmtp.ErrUnencrypted):
		return "refusing to send credentials over an unencrypted connection"
	default:
		return "server offers no usable AUTH mechanism"
	}
}

// netErrText is the text of the innermost *net.OpError (which names the
// server address, never the recipient), or a generic text.
func netErrText(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Error()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed by server"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "network error"
}
