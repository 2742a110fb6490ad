package flow

import (
	"encoding/binary"

	"github.com/nyaruka/phonenumbers"

	"github.com/otpd/otpd/otpcode"
)

// decoyDomains are common mail domains a decoy mask picks from.
var decoyDomains = []string{"gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com", "proton.me"}

// decoyMask is the masked address shown for an unknown user under
// enumeration protection. When the login id is itself an address it is
// masked like a real one; otherwise a stable, plausible mask is derived
// from the login id with the server's secret key, so it cannot be told
// from a real user's mask by recomputing it.
func (e *Engine) decoyMask(p *Project, ch Channel, loginID, loginAddr string) string {
	if loginAddr != "" {
		return maskAddress(ch, loginAddr)
	}
	h := e.hasher.Sum(otpcode.Input{Project: p.ID, Channel: string(ch), LoginID: loginID, Purpose: "decoy"})
	v := binary.BigEndian.Uint64(h[:8])
	if ch == Email {
		first := byte('a' + v%26)
		return string(first) + "***@" + decoyDomains[(v>>8)%uint64(len(decoyDomains))]
	}
	return maskAddress(ch, decoyPhone(p.DefaultPhoneRegion, v>>16))
}

// decoyPhone is a plausible mobile number of the project's default region
// (the United States when it has none), with its last two digits taken
// from v: its mask has the length and shape of a real number's there.
func decoyPhone(region string, v uint64) string {
	if region == "" {
		region = "US"
	}
	n := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE)
	if n == nil {
		n = phonenumbers.GetExampleNumberForType("US", phonenumbers.MOBILE)
	}
	e164 := []byte(phonenumbers.Format(n, phonenumbers.E164))
	last := v % 100
	e164[len(e164)-2], e164[len(e164)-1] = byte('0'+last/10), byte('0'+last%10)
	return string(e164)
}
