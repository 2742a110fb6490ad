package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/otpd/otpd/delivery"
)

var (
	_ delivery.Receipter        = (*Webhook)(nil)
	_ delivery.CallbackVerifier = (*Webhook)(nil)
)

// SendReceipt is Send; the message id of a webhook delivery is the job id
// (the "id" field), which the receiver's status callbacks name.
func (w *Webhook) SendReceipt(ctx context.Context, o delivery.Outgoing) (string, error) {
	return o.ID, w.Send(ctx, o)
}

// webhookStatus is a receiver's status callback body.
type webhookStatus struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	ErrorCode string `json:"errorCode"`
}

// VerifyCallback checks a webhook receiver's status callback, signed the
// way otpd signs its webhook requests (X-Otpd-Timestamp, X-Otpd-Signature
// over timestamp "." body, with the same secret; DefaultWebhookTolerance),
// and reads its JSON body: {"id":"<the job id>","status":"delivered",
// "errorCode":"…"} with status one of queued, sent, delivered,
// undelivered, failed.
func (w *Webhook) VerifyCallback(_ string, header http.Header, body []byte, now time.Time) (delivery.StatusReport, error) {
	if VerifyWebhook(w.secret, header.Get(HeaderWebhookTimestamp), header.Get(HeaderWebhookSignature), body, now, 0) != nil {
		return delivery.StatusReport{}, ErrCallbackSignature
	}
	var b webhookStatus
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if dec.Decode(&b) != nil || b.ID == "" || len(b.ID) > 64 {
		return delivery.StatusReport{}, ErrCallbackBody
	}
	switch b.Status {
	case delivery.StatusQueued, delivery.StatusSent, delivery.StatusDelivered, delivery.StatusUndelivered, delivery.StatusFailed:
	default:
		return delivery.StatusReport{}, ErrCallbackBody
	}
	return delivery.StatusReport{MessageID: b.ID, Status: b.Status, ErrorCode: safeCode(b.ErrorCode)}, nil
}
