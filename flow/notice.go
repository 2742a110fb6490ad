package flow

import (
	"context"
	"time"

	"github.com/otpd/otpd/delivery"
	"github.com/otpd/otpd/store"
)

// NoticeLifetime is how long a security notice may wait in the queue
// (a provider outage) before the worker drops it as stale.
const NoticeLifetime = 24 * time.Hour

// notifyContactChanged tells the old address that the user's verified
// email or phone changed: the new address masked, when, and what to do if
// it was not them (delivery/render notice.* templates, in the project's
// default locale). It goes through the durable queue like a code. It never fails
// the change: the change is made and verified already; a failure to queue
// the notice is logged (without the address) and counted.
//
// The request's locale, templateId, templateOptions and providerId are not
// used: they come from whoever made the change (perhaps a thief holding
// the victim's refresh JWT, who would pick a language the victim cannot
// read), and the notice must say what the project says, in the project's
// language (otpd keeps no locale per user), through the channel's default
// provider.
func (e *Engine) notifyContactChanged(ctx context.Context, p *Project, ch Channel, old, newAddr string, at time.Time) {
	if old == "" || old == newAddr {
		return
	}
	for _, nc := range e.noticeChannels(p, ch) {
		msg := delivery.Message{
			Project: p.ID, Channel: string(nc), To: old, Purpose: delivery.PurposeContactChanged,
			ExpiresAt: at.Add(NoticeLifetime), Locale: "", // the project's default
			Notice: &delivery.Notice{Contact: string(nc.Contact()), NewMasked: maskAddress(nc, newAddr), ChangedAt: at},
		}
		var err error
		switch {
		case e.jobs != nil && e.outbox != nil:
			var job *store.Job
			if job, err = e.jobs.Prepare(ctx, msg); err == nil {
				err = e.outbox.Enqueue(ctx, job, old, msg.ExpiresAt)
			}
		case e.sender != nil:
			err = e.sender.Send(ctx, msg)
		}
		if err != nil {
			e.metrics.noticeFailed()
			e.log.WarnContext(ctx, "could not queue the security notice of a contact change", "project", p.ID, "channel", nc, "error", err)
		}
	}
}

// noticeChannels are the channels a notice of a change made on ch goes
// out on. The update's channel is chosen by whoever made the change: a
// phone changed through update/phone/whatsapp or /voice would tell the
// old number only by WhatsApp (which that number may not have) or by an
// unanswered call. So a phone notice always goes by SMS too, when the
// project can send SMS: every mobile number receives it, and it stays on
// the phone. The update's own channel is kept as well (a landline proven
// by voice receives no SMS).
func (e *Engine) noticeChannels(p *Project, ch Channel) []Channel {
	if ch.Contact() == store.ContactEmail {
		return []Channel{Email}
	}
	if ch == SMS || (e.options != nil && !e.options.HasProvider(p.ID, string(SMS), "")) {
		return []Channel{ch}
	}
	return []Channel{SMS, ch}
}
