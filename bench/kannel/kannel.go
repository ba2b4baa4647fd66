// Package kannel renders the Kannel 1.4 configuration bench/smsbench runs
// bearerbox and smsbox with: one SMPP transceiver link per SMSC, an HTTP
// sendsms user allowed to send concatenated messages, delivery reports in
// memory. Starting the boxes and measuring them is smsbench's job.
package kannel

import (
	_ "embed"
	"io"
	"text/template"
)

//go:embed kannel.conf.tmpl
var confText string

var conf = template.Must(template.New("kannel.conf").Parse(confText))

// SMSC is one SMPP link.
type SMSC struct {
	ID                 string // smsc-id; sendsms routes with smsc=ID
	Port               int    // on 127.0.0.1
	SystemID, Password string
	Window             int // max-pending-submits
}

// Config is what the template needs.
type Config struct {
	Dir         string // logs go here
	AdminPort   int
	SmsboxPort  int
	SendsmsPort int
	LogLevel    int // 0 debug … 4 panic
	SMSCs       []SMSC
}

// Render writes the configuration file.
func Render(w io.Writer, c Config) error { return conf.Execute(w, c) }
