package flow

import (
	"encoding/binary"

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
	last := (v >> 16) % 100
	return maskAddress(ch, "+1000000000"+string(rune('0'+last/10))+string(rune('0'+last%10)))
}
