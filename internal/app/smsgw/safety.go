package smsgw

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/traffic12123/gateway/internal/contentcheck"
	"github.com/traffic12123/gateway/internal/dispatch"
)

// safetyMetrics registers the metrics of the admin surface and the safety
// nets that the app owns.
func (a *App) safetyMetrics() {
	f := promauto.With(a.reg)
	a.ledgerUp = f.NewGauge(prometheus.GaugeOpts{Name: "smsgw_ledger_writable", Help: "1 when the last ledger write probe (every 5 s) worked."})
	a.adminDenied = f.NewCounter(prometheus.CounterOpts{Name: "smsgw_admin_unauthorized_total", Help: "Admin API requests refused for a missing or wrong bearer token."})
	a.heldDecisionsTotal = f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_held_decisions_total", Help: "Held messages released or dropped by an operator."}, []string{"decision"})
	a.statusTruncated = f.NewCounter(prometheus.CounterOpts{Name: "smsgw_status_fields_truncated_total", Help: "Status records with a field cut to its limit."})
	a.heldGauge = f.NewGaugeFunc(prometheus.GaugeOpts{Name: "smsgw_messages_held", Help: "Messages waiting for an operator's decision (state held)."},
		func() float64 {
			if a.store == nil {
				return 0
			}
			s, err := a.store.Summary(context.Background())
			if err != nil {
				return 0
			}
			return float64(s.States["held"])
		})
}

// safety builds the pipeline's safety nets from the configuration.
func (a *App) safety() dispatch.Safety {
	sc := a.cfg.Safety
	s := dispatch.Safety{
		MaxAudience: sc.MaxAudience,
		Events:      a.store,
		Pinger:      a.store,
		Metrics:     dispatch.NewSafetyMetrics(a.reg, contentcheck.Reasons),
	}
	if sc.ContentCheck {
		s.Content = contentcheck.New(contentcheck.Config{ServiceNumbers: sc.ServiceNumbers, AllowedDomains: sc.AllowedDomains})
	}
	return s
}
