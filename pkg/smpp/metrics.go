package smpp

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/pkg/cnsms"
)

// Protocol is the value of the protocol label on this package's metrics.
const Protocol = "smpp"

// Metrics are the Prometheus metrics of the carrier clients, defined once
// in pkg/cnsms for every protocol: the carrier label is Config.Name, a
// bounded set chosen by configuration; the protocol label is always
// Protocol here ("cmpp", "smgp", "sgip" for the native clients). Build it
// with NewMetrics from a Registerer you own; a nil *Metrics records
// nothing.
type Metrics = cnsms.Metrics

// NewMetrics builds and registers the metrics with reg (nil: not
// registered, e.g. for tests that read them directly). Collectors reg
// already holds (an earlier NewMetrics here or in pkg/cnsms) are reused,
// so every protocol's clients share one registry
// (TestMetricsShareRegistryWithCNSMS).
func NewMetrics(reg prometheus.Registerer) *Metrics { return cnsms.NewMetrics(reg) }

// carrierMetrics are Metrics curried with one carrier label; nil-safe.
type carrierMetrics struct {
	m       *Metrics
	carrier string
	window  prometheus.Gauge
	late    prometheus.Counter
	dur     prometheus.Observer
}

func forCarrier(m *Metrics, name string) *carrierMetrics {
	if m == nil {
		return nil
	}
	return &carrierMetrics{
		m: m, carrier: name,
		window: m.WindowInUse.WithLabelValues(name, Protocol),
		late:   m.LateResponses.WithLabelValues(name, Protocol),
		dur:    m.SubmitDuration.WithLabelValues(name, Protocol),
	}
}

func (c *carrierMetrics) windowAdd(d float64) {
	if c != nil {
		c.window.Add(d)
	}
}

func (c *carrierMetrics) lateResponse() {
	if c != nil {
		c.late.Inc()
	}
}

func (c *carrierMetrics) inbound(cmd CommandID) {
	if c == nil {
		return
	}
	name := "other"
	switch cmd {
	case DeliverSM, DataSM, AlertNotification:
		name = cmd.String()
	}
	c.m.Inbound.WithLabelValues(c.carrier, Protocol, name).Inc()
}

func (c *carrierMetrics) bindsUp(d float64) {
	if c != nil {
		c.m.BindsUp.WithLabelValues(c.carrier, Protocol).Add(d)
	}
}

func (c *carrierMetrics) bindAttempt(ok bool) {
	if c == nil {
		return
	}
	r := "ok"
	if !ok {
		r = "error"
	}
	c.m.BindAttempts.WithLabelValues(c.carrier, Protocol, r).Inc()
}

func (c *carrierMetrics) submit(result string, seconds float64) {
	if c == nil {
		return
	}
	c.m.Submits.WithLabelValues(c.carrier, Protocol, result).Inc()
	if seconds >= 0 {
		c.dur.Observe(seconds)
	}
}

func (c *carrierMetrics) receipt(stat string) {
	if c == nil {
		return
	}
	if st := StateFromStat(stat); st != 0 {
		stat = st.Stat()
	} else if stat != "unparsed" {
		stat = "other"
	}
	c.m.Receipts.WithLabelValues(c.carrier, Protocol, stat).Inc()
}
