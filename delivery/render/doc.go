// Package render turns a delivery.Message into the words sent to a person:
// an email's subject, plain-text and HTML parts, or the body of an SMS,
// WhatsApp message or voice call, in the message's locale.
//
// # Templates and layout
//
// Templates are files laid out as
//
//	<templateID>/<locale>/<file>
//
// where file is one of
//
//	email.subject.txt  email subject (text/template)
//	email.txt          email plain-text part (text/template)
//	email.html         email HTML part (html/template: values are escaped)
//	sms.txt            SMS body (text/template)
//	whatsapp.txt       WhatsApp body (text/template)
//	voice.txt          words spoken on a voice call (text/template)
//
// and, for the security notice sent to the old address after a verified
// email or phone changed (delivery.PurposeContactChanged: no code; data
// .Contact, .NewAddress (masked) and .ChangedAt), notice.email.subject.txt,
// notice.email.txt, notice.sms.txt (SMS and WhatsApp) and
// notice.voice.txt. Notices are rendered without the output cache.
//
// The templates shipped with otpd are embedded in the binary under the
// template ID "default", in 32 locales (docs/delivery.md lists them):
// right-to-left ones ("ar", "he") send dir="rtl" in the email, Chinese is
// "zh" (Simplified) and "zh-hant" (Traditional). Options.Dir may name a directory with the same layout: its files
// override the embedded file of the same template ID, locale and name, and
// add new template IDs and locales. A locale directory may hold only some of
// the files. Locale directory names are normalised like message locales
// ("pt_BR" is "pt-br"). Entries whose names start with "." are ignored at
// every level (.DS_Store, .gitkeep, the ..data links of a Kubernetes
// ConfigMap volume); any other unexpected entry, such as "sms.text", is an
// error.
//
// # Lookup
//
// Each file a channel needs is looked up on its own:
//
//  1. Template ID: the message's TemplateID, or "default" when it is empty.
//     An ID that exists neither in Options.Dir nor among the embedded
//     templates is a caller error: Render returns an error wrapping
//     ErrUnknownTemplate, never a silent fallback.
//  2. Locale chain: the message's Locale normalised (trimmed, lower-case,
//     '_' to '-'), then its shorter prefixes ("pt-br" then "pt", as in
//     RFC 4647 lookup), then Options.DefaultLocale and its prefixes, then
//     "en". A tag whose region writes its language in another script goes
//     through that script before the bare language ("zh-tw", "zh-hant",
//     "zh"). The first locale in which the template ID has the file wins;
//     within one locale a file in Options.Dir wins over the embedded one.
//  3. A custom template ID that lacks the file in every locale of the chain
//     falls back to the "default" template ID, with the same chain. If
//     "default" lacks it too, Render fails (the embedded "en" set is
//     complete, so this cannot happen with the shipped templates).
//
// Rendered.Locale is the locale of the body file actually used: email.txt
// for email, and the single file of the other channels.
//
// # Template data
//
// Every template is executed with a Data value:
//
//	.Code            the one-time code, e.g. "123456"
//	.CodeSpelled     the code's characters separated by ", ", e.g.
//	                 "1, 2, 3, 4, 5, 6", for text-to-speech
//	.ExpiresMinutes  int: the code's lifetime rounded up to whole minutes,
//	                 at least 1
//	.ExpiresSeconds  int: the code's lifetime rounded up to whole seconds,
//	                 at least 1
//	.Channel         "email", "sms", "whatsapp" or "voice"
//	.Purpose         "signup", "signin", "signup-in" or "update"
//	.To              the normalised address the message goes to
//	.ProductName     Options.ProductName ("otpd" when empty)
//	.Locale          the locale of the template file being executed, e.g.
//	                 "fr" (handy for <html lang="{{.Locale}}">)
//	.Options         map[string]string: the request's templateOptions
//
// An option is read with {{.Options.key}}, {{index .Options "key"}} or
// {{.Option "key"}}; a missing key renders as the empty string, never as
// "<no value>". Go template syntax applies; Descope's console variable
// syntax does not.
//
// # Invariants
//
//   - New reads, parses and test-executes every template (embedded and
//     Options.Dir) with sample data, and fails naming the file on any
//     error, so a broken custom template stops startup instead of a
//     delivery.
//   - A Renderer is immutable and safe for concurrent use.
//   - Leading and trailing white space is trimmed from every rendered part,
//     so template files may end with a newline. The subject is also folded
//     onto a single line (CR, LF and tabs become spaces), so an option
//     value cannot inject an email header.
//   - email.html is an html/template: data is escaped for its context.
//     The text files are text/template and are not escaped.
//   - The shipped templates never put the code in an email subject (it
//     shows in notifications and logs), say how long the code is valid and
//     not to share it; their SMS bodies fit one segment with a 6-digit
//     code (GSM-7 locales also with a 10-digit code, a 60-minute lifetime
//     and a 20-character product name; UCS-2 ones in at most two), as the
//     table in docs/delivery.md shows (TestShippedSMSSegments). Custom
//     templates may be longer: callers can log SMSSegments and SMSEncoding
//     of what they send.
//   - With Options.Autofill, every code SMS (not WhatsApp, voice, email or
//     a notice) gets the Android app hash line and the WebOTP origin-bound
//     line appended after the template's text (package autofill).
package render
