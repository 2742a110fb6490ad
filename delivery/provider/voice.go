package provider

import "strings"

// SayVoice is how Twilio's <Say> reads a message: its language and, for a
// language the default basic voice does not speak, a voice that does.
type SayVoice struct {
	Language string
	// Voice is empty for Twilio's default voice.
	Voice string
}

// sayVoices maps each shipped template locale (delivery/render) to the
// <Say> language and voice that read it. Twilio's basic voice speaks
// English, French and Spanish; the other languages get Google's standard
// voice of that language (Twilio offers Google voices by the name
// "Google.<language>-Standard-A"). Chinese is read in Mandarin: cmn-CN for
// Simplified, cmn-TW for Traditional.
var sayVoices = map[string]SayVoice{
	"en":      {"en-US", ""},
	"fr":      {"fr-FR", ""},
	"es":      {"es-ES", ""},
	"ar":      google("ar-XA"),
	"ca":      google("ca-ES"),
	"cs":      google("cs-CZ"),
	"da":      google("da-DK"),
	"de":      google("de-DE"),
	"el":      google("el-GR"),
	"fi":      google("fi-FI"),
	"he":      google("he-IL"),
	"hi":      google("hi-IN"),
	"hu":      google("hu-HU"),
	"id":      google("id-ID"),
	"it":      google("it-IT"),
	"ja":      google("ja-JP"),
	"ko":      google("ko-KR"),
	"ms":      google("ms-MY"),
	"nb":      google("nb-NO"),
	"nl":      google("nl-NL"),
	"pl":      google("pl-PL"),
	"pt":      google("pt-PT"),
	"pt-br":   google("pt-BR"),
	"ro":      google("ro-RO"),
	"ru":      google("ru-RU"),
	"sv":      google("sv-SE"),
	"th":      google("th-TH"),
	"tr":      google("tr-TR"),
	"uk":      google("uk-UA"),
	"vi":      google("vi-VN"),
	"zh":      google("cmn-CN"),
	"zh-hant": google("cmn-TW"),
}

// google is Google's standard voice of language.
func google(language string) SayVoice {
	return SayVoice{Language: language, Voice: "Google." + language + "-Standard-A"}
}

// DefaultSayVoice is the <Say> language and voice for a template locale
// ("zh-hant", "pt-br", "fr-CA"): the locale's entry, else its language's
// ("fr-ca" -> "fr"), else English.
func DefaultSayVoice(locale string) SayVoice {
	l := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(locale), "_", "-"))
	for l != "" {
		if v, ok := sayVoices[l]; ok {
			return v
		}
		i := strings.LastIndexByte(l, '-')
		if i < 0 {
			break
		}
		l = l[:i]
	}
	return sayVoices["en"]
}
